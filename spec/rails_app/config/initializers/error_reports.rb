# frozen_string_literal: true

# What the app's error tracker would receive: Rails 7's error reporter (Rails.error) hands every
# report to its subscribers; this one writes them to log/error_reports.log, one JSON line each, for
# the specs to read. Rails 6.1 has no Rails.error, and wecom reports there only to its log.
if Rails.respond_to?(:error)
  class ErrorReportsLog
    def initialize(path)
      @path = path
    end

    def report(error, handled:, severity:, context:, source: nil)
      line = { class: error.class.name, message: error.message, handled: handled, severity: severity,
               source: source, context: context.transform_values(&:to_s) }
      File.open(@path, "a") { |file| file.puts(JSON.generate(line)) }
    end
  end

  Rails.error.subscribe(ErrorReportsLog.new(Rails.root.join("log", "error_reports.log").to_s))
end
