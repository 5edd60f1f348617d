# frozen_string_literal: true

# The wecom gem reads config/wecom.yml, credentials (wecom:) and WECOM_* variables by itself.
# Log lines go to WeCom.logger (Rails.logger by default); requests are logged at debug level.
# In the test environment sends are recorded, not made: see WeCom::Testing.
#
# Settings given here win over the others:
#
# WeCom.configure do |c|
#   c.timeout = 5
#   c.token_store = WeCom::TokenStore::RailsCache.new(Rails.cache)
# end
<% if options[:delivery_log] -%>

# WeCom.deliver_later keeps a row per message in wecom_deliveries (WeCom::Delivery).
WeCom.configure { |c| c.delivery_log = true }
<% end -%>
