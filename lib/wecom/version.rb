# frozen_string_literal: true

module WeCom
  VERSION = "0.1.0"
end
