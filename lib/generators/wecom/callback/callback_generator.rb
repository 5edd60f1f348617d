# frozen_string_literal: true

require "rails/generators/named_base"

module WeCom
  module Generators
    # rails generate wecom:callback NAME — writes app/wecom/NAME_handler.rb, a
    # WeCom::Callback::Handler with an example rule and a fallback, and mounts it in
    # config/routes.rb at /wecom/NAME as the endpoint of the callback NAME (the app NAME's
    # "receive messages" settings, or an endpoint registered with c.callback NAME).
    class CallbackGenerator < Rails::Generators::NamedBase
      namespace "wecom:callback"
      source_root File.expand_path("templates", __dir__)
      desc "Creates app/wecom/NAME_handler.rb (what the WeCom callback NAME does with messages and events) " \
           "and mounts it at /wecom/NAME in config/routes.rb."

      # Writes app/wecom/NAME_handler.rb, the handler class with example rules.
      # @return [void]
      def create_handler
        template "handler.rb", File.join("app/wecom", class_path, "#{file_name}_handler.rb")
      end

      # Mounts the endpoint in config/routes.rb.
      # @return [void]
      def mount_endpoint
        route "mount WeCom::Callback::Endpoint.new(:#{endpoint_name}, #{handler_class}), at: #{mount_path.inspect}"
      end

      # Says which URL, token and EncodingAESKey to set in WeCom's admin console.
      # @return [void]
      def explain_settings
        say <<~TEXT

          WeCom delivers to https://YOUR-HOST#{mount_path}: set that URL in the app's "receive messages"
          settings, with its Token and EncodingAESKey, which the endpoint needs at boot, e.g. in
          config/initializers/wecom.rb:

            c.app :#{endpoint_name}, callback_token: "...", callback_encoding_aes_key: "..."   # with its secret: and agent_id:
            # or, for an endpoint that is not an app's (the contact-sync assistant's, say):
            c.callback :#{endpoint_name}, token: "...", encoding_aes_key: "..."

          Keep the token and key in the credentials; bin/rails routes lists the endpoint.

        TEXT
      end

      private

      def handler_class
        "#{class_name}Handler"
      end

      # :hr for "hr" and "HR"; :admin_hr for "admin/hr".
      def endpoint_name
        [*class_path, file_name].join("_")
      end

      def mount_path
        "/wecom/#{[*class_path, file_name].join('/')}"
      end
    end
  end
end
