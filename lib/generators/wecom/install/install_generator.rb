# frozen_string_literal: true

require "rails/generators/base"

module WeCom
  module Generators
    # rails generate wecom:install — writes config/wecom.yml and config/initializers/wecom.rb.
    class InstallGenerator < Rails::Generators::Base
      namespace "wecom:install"
      source_root File.expand_path("templates", __dir__)
      desc "Creates config/wecom.yml (settings per environment) and config/initializers/wecom.rb."

      def create_settings
        template "wecom.yml", "config/wecom.yml"
      end

      def create_initializer
        template "initializer.rb", "config/initializers/wecom.rb"
      end

      def explain_secrets
        say <<~TEXT

          Put each app's secret in the credentials (bin/rails credentials:edit):

            wecom:
              secret: "..."          # or per app: apps: { hr: { secret: "..." } }

        TEXT
      end
    end
  end
end
