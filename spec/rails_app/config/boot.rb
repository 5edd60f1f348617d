# frozen_string_literal: true

# No Bundler: Rails, pg and Sidekiq come from Debian's packages, and spec/rails_app_spec.rb puts
# the wecom under test on RUBYLIB.
