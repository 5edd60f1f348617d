# frozen_string_literal: true

# `rails generate wecom:callback NAME` mounts its endpoint here (spec/rails_app_callbacks_spec.rb);
# OmniAuth's middleware answers POST /auth/wecom (and the signed GET entry URL) itself.
Rails.application.routes.draw do
  root "sessions#show"
  get "/auth/wecom/callback", to: "sessions#create"
  get "/auth/failure", to: "sessions#failure"
  delete "/sign_out", to: "sessions#destroy"
end
