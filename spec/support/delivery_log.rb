# frozen_string_literal: true

require "erb"

# The delivery log's specs run on the real PostgreSQL (127.0.0.1:5432, trust auth, database
# test), in a schema of their own that is rebuilt, from the generator's migration, once per run.
module DeliveryLog
  SCHEMA = "wecom_spec"
  MIGRATION = File.expand_path("../../lib/generators/wecom/install/templates/create_wecom_deliveries.rb.tt", __dir__)

  def self.connection_settings
    { adapter: "postgresql", host: "127.0.0.1", port: 5432, database: "test",
      username: ENV.fetch("PGUSER", "postgres"), schema_search_path: SCHEMA }
  end

  def self.prepare!
    return if @prepared

    require "active_record"
    require "active_job"
    require "logger"
    ActiveRecord::Base.logger = nil
    ActiveJob::Base.logger = Logger.new(nil)
    ActiveRecord::Base.establish_connection(**connection_settings)
    connection = ActiveRecord::Base.connection
    connection.execute("DROP SCHEMA IF EXISTS #{SCHEMA} CASCADE")
    connection.execute("CREATE SCHEMA #{SCHEMA}")
    ActiveRecord::Migration.verbose = false
    eval(ERB.new(File.read(MIGRATION), trim_mode: "-").result, TOPLEVEL_BINDING, MIGRATION) # rubocop:disable Security/Eval
    CreateWecomDeliveries.migrate(:up)
    @prepared = true
  end

  # An ActiveJob queue adapter that keeps what is enqueued, so a spec can run the jobs (through
  # ActiveJob::Base.execute, as a worker would) and see when each was asked to run.
  class Queue
    Entry = Struct.new(:data, :at) do
      def wait
        at && (at - Time.now.to_f)
      end
    end

    attr_reader :entries

    def initialize
      @entries = []
    end

    def enqueue(job)
      @entries << Entry.new(job.serialize, nil)
    end

    def enqueue_at(job, timestamp)
      @entries << Entry.new(job.serialize, timestamp)
    end

    # Runs the oldest job now (whenever it was due) and returns its entry.
    def run_next
      entry = @entries.shift or raise "no job is queued"
      ActiveJob::Base.execute(entry.data)
      entry
    end

    def run_all
      run_next until @entries.empty?
    end
  end
end
