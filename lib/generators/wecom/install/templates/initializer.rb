# frozen_string_literal: true

# The wecom gem reads config/wecom.yml, credentials (wecom:) and WECOM_* variables by itself.
# Settings given here win over them:
#
# WeCom.configure do |c|
#   c.timeout = 5
#   c.token_store = WeCom::TokenStore::RailsCache.new(Rails.cache)
# end
#
# Log lines go to WeCom.logger (Rails.logger by default); requests are logged at debug level.
# In the test environment sends are recorded, not made: see WeCom::Testing.
