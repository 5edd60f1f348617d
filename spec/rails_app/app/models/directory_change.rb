# frozen_string_literal: true

# A change HR made in the WeCom directory, as WeCom's change_contact event told it: the app's
# WeCom handler records each one (from WeCom::CallbackJob) to sync its own copy of the directory.
class DirectoryChange < ActiveRecord::Base
  def self.record!(event)
    create!(change_type: event.change_type, user_id: event.user_id, happened_at: event.create_time)
  end
end
