# frozen_string_literal: true

require "json"

# What the spec Rails app's Rails.error subscriber (config/initializers/error_reports.rb) wrote:
# one Hash per report. Rails 6.1 has no Rails.error: there the file stays empty.
module ErrorReports
  # Whether the app's Rails (the railties this Ruby has) has Rails.error (Rails 7+).
  def self.rails_reporter?
    Gem::Specification.find_by_name("railties").version >= Gem::Version.new("7.0")
  end

  def self.read(log_dir)
    path = File.join(log_dir, "error_reports.log")
    File.exist?(path) ? File.readlines(path).map { |line| JSON.parse(line) } : []
  end
end
