# frozen_string_literal: true

require "rails/generators/base"

module WeCom
  # The Rails generators: wecom:install and wecom:callback.
  module Generators
    # rails generate wecom:install [--delivery-log] — writes config/wecom.yml and
    # config/initializers/wecom.rb; --delivery-log adds the wecom_deliveries migration and turns
    # the delivery log on.
    class InstallGenerator < Rails::Generators::Base
      include Rails::Generators::Migration

      namespace "wecom:install"
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/wecom.yml (settings per environment) and config/initializers/wecom.rb."
      class_option :delivery_log, type: :boolean, default: false,
                                  desc: "Add the wecom_deliveries migration (WeCom::Delivery, ActiveRecord)"

      # The timestamp of the migration (Rails asks each generator that writes one).
      # @param dirname [String]
      # @return [String]
      def self.next_migration_number(dirname)
        require "rails/generators/active_record"
        ActiveRecord::Generators::Base.next_migration_number(dirname)
      end

      # Writes config/wecom.yml, the settings of each environment.
      # @return [void]
      def create_settings
        template "wecom.yml", "config/wecom.yml"
      end

      # Writes config/initializers/wecom.rb.
      # @return [void]
      def create_initializer
        template "initializer.rb", "config/initializers/wecom.rb"
      end

      # With --delivery-log: writes the wecom_deliveries migration.
      # @return [void]
      def create_delivery_log_migration
        return unless options[:delivery_log]

        migration_template "create_wecom_deliveries.rb", "db/migrate/create_wecom_deliveries.rb"
      end

      # Says where the secrets go (credentials or WECOM_* variables).
      # @return [void]
      def explain_secrets
        say <<~TEXT

          Put each app's secret in the credentials (bin/rails credentials:edit):

            wecom:
              secret: "..."          # or per app: apps: { hr: { secret: "..." } }

        TEXT
        say "Then run bin/rails db:migrate to create wecom_deliveries.\n\n" if options[:delivery_log]
      end
    end
  end
end
