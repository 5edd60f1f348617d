# frozen_string_literal: true

require "fileutils"
require "tmpdir"

# Files an example writes (uploads, config files), in a folder removed after the example.
module TmpFiles
  def self.included(base)
    base.after { FileUtils.rm_rf(@tmp_dir) if @tmp_dir }
  end

  def tmp_dir
    @tmp_dir ||= Dir.mktmpdir("wecom-spec")
  end

  # Writes `content` to `name` in tmp_dir and returns its path.
  def tmp_file(name, content)
    File.join(tmp_dir, name).tap { |path| File.binwrite(path, content) }
  end
end
