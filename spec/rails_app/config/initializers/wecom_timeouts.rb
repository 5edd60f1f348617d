# frozen_string_literal: true

# Credentials come from WECOM_* (the emulator's); a short timeout and no in-process retries, so
# that a slow answer fails the job and DeliveryJob's own retry is what the spec sees.
WeCom.configure do |c|
  c.timeout = 1
  c.max_retries = 0
end
