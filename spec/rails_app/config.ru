# frozen_string_literal: true

# What `bin/rails server` (Puma) serves: the WeCom callback endpoints mounted in config/routes.rb.
require_relative "config/environment"
run Rails.application
