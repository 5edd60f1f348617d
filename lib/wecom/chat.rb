# frozen_string_literal: true

module WeCom
  # An app group chat as WeCom::Client#chat reads it.
  Chat = Struct.new(:chat_id, :name, :owner, :users, keyword_init: true)
end
