# frozen_string_literal: true

# `rails generate wecom:callback NAME` mounts its endpoint here (spec/rails_app_callbacks_spec.rb).
Rails.application.routes.draw do
end
