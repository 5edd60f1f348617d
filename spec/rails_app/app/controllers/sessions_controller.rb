# frozen_string_literal: true

# The interviewer's session: signed in with WeCom (OmniAuth's :wecom), by the button here or by
# the workbench's home page (OmniAuth::Strategies::WeCom.entry_path, a signed GET).
class SessionsController < ApplicationController
  # OmniAuth calls #failure for a refused sign-in POST too, whose token it already refused.
  skip_forgery_protection only: :failure

  def show
    @interviewer = session[:interviewer]
  end

  # /auth/wecom/callback, once the strategy accepted the state and WeCom's code.
  def create
    auth = request.env.fetch("omniauth.auth")
    reset_session # a new session for the signed-in interviewer (no session fixation)
    session[:interviewer] = { "userid" => auth.uid, "name" => auth.info.name,
                              "departments" => auth.extra.departments }
    redirect_to root_path
  end

  def failure
    @failure = request.env["omniauth.error.type"] || params[:message]
    render :show, status: :unauthorized
  end

  def destroy
    reset_session
    redirect_to root_path
  end
end
