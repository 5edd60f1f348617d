# frozen_string_literal: true

module WeCom
  class CLI
    # `wecom token`: checks the app's credentials and prints when its access token expires,
    # never the token.
    class Token < Command
      SYNOPSIS = ""
      SUMMARY = "check the app's credentials and print when its access token expires"
      USAGE = "[options]"

      def run(args)
        no_arguments(args)
        client = build_client
        sensitive(client.access_token)
        seconds = client.token_expires_in&.floor
        if json?
          emit(expires_in: seconds, app: client.app&.to_s, corp_id: client.corp_id, agent_id: client.agent_id)
        else
          expiry = seconds ? "the access token expires in #{seconds} s" : "the access token's expiry is not known"
          say("Credentials OK (corp_id #{client.corp_id}, agent_id #{client.agent_id}): #{expiry}")
        end
      end

      private

      def define_options(o)
        o.separator "Fetches an access token with the app's credentials and prints how many seconds it has"
        o.separator "left. The token itself is never printed."
        o.separator ""
        o.separator "Options:"
        client_options(o)
      end
    end
  end
end
