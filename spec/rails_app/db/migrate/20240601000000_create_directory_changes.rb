# frozen_string_literal: true

# The directory changes WeCom reported (DirectoryChange).
class CreateDirectoryChanges < ActiveRecord::Migration[6.1]
  def change
    create_table :directory_changes do |t|
      t.string :change_type, null: false
      t.string :user_id
      t.datetime :happened_at
      t.timestamps
    end
  end
end
