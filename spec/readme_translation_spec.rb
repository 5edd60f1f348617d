# frozen_string_literal: true

require "diff/lcs"

# README.zh-CN.md is README.md in Chinese. Its prose is free, but its skeleton is not: the same
# headings (level by level, in order), the same tables (rows and columns) and the same code blocks
# (fence, info string, runnable marker and every byte of the body) in the same places. When
# README.md changes, this spec names the first place the translation no longer follows, with the
# line and section in both files, so the sync is a matter of going there.
module ReadmeSkeleton
  Heading = Struct.new(:level, :text, :line, :section) do
    # Code spans are not translated, so they anchor a heading among its same-level neighbours.
    def key = [:heading, level, text.scan(/`[^`]+`/)]
    def describe = "heading `#{'#' * level} #{text}`"
  end

  Block = Struct.new(:fence, :info, :marker, :body, :line, :section) do
    def key = [:block, fence, info, marker, body]

    def describe
      first = body.lines.first.to_s.strip
      "#{marker ? 'runnable ' : ''}#{fence}#{info} block starting `#{first[0, 60]}`"
    end
  end

  Table = Struct.new(:rows, :columns, :line, :section) do
    def key = [:table, rows, columns]
    def describe = "table of #{rows} rows × #{columns} columns"
  end

  FENCE = /\A *(?<fence>`{3,}|~{3,})(?<info>[^`]*)\z/
  MARKER = /\A<!--.*-->\z/
  TABLE_SEPARATOR = /\A\|[\s:|-]+\|\z/

  module_function

  # The skeleton of a Markdown text: its headings, tables and fenced code blocks, in order,
  # each with its line number and the headings it lies under.
  def parse(text)
    elements = []
    path = []
    lines = text.lines.map(&:chomp)
    index = 0
    while index < lines.size
      line = lines[index]
      if (open = FENCE.match(line))
        body, close = fenced_body(lines, index, open)
        marker = index.positive? && MARKER.match?(lines[index - 1]) ? lines[index - 1] : nil
        elements << Block.new(open[:fence], open[:info].strip, marker, body, index + 1, path.join(" > "))
        index = close + 1
        next
      elsif (heading = /\A(\#{1,6}) +(.*?) *\z/.match(line))
        level = heading[1].size
        path = path.first(level - 1) << heading[2]
        elements << Heading.new(level, heading[2], index + 1, path.join(" > "))
      elsif line.start_with?("|")
        first = index
        index += 1 while index + 1 < lines.size && lines[index + 1].start_with?("|")
        rows = lines[first..index].grep_v(TABLE_SEPARATOR)
        columns = rows.first.strip.delete_prefix("|").delete_suffix("|").split("|", -1).size
        elements << Table.new(rows.size, columns, first + 1, path.join(" > "))
      end
      index += 1
    end
    elements
  end

  # The body of the fence opened at lines[index] and the index of its closing line; an unclosed
  # fence is an error (it would swallow the rest of the file).
  def fenced_body(lines, index, open)
    closing = /\A *#{Regexp.escape(open[:fence][0])}{#{open[:fence].size},} *\z/
    close = (index + 1...lines.size).find { |i| closing.match?(lines[i]) }
    raise ArgumentError, "the #{open[:fence]} fence at line #{index + 1} is never closed" unless close

    [lines[index + 1...close].map { |body_line| "#{body_line}\n" }.join, close]
  end

  # Every place where the two skeletons differ, README.md's side first; empty when in step.
  def differences(original, translation)
    Diff::LCS.sdiff(original.map(&:key), translation.map(&:key)).reject { |change| change.action == "=" }.map do |change|
      [change.action, original[change.old_position], translation[change.new_position], change]
    end
  end

  def report(original, translation, names: ["README.md", "README.zh-CN.md"])
    found = differences(original, translation)
    return nil if found.empty?

    action, mine, theirs, change = found.first
    en, zh = names
    where = ->(name, element) { "#{name} line #{element.line}#{element.section.empty? ? '' : %( (in "#{element.section}"))}" }
    unmatched = action == "+" ? theirs : mine
    detail =
      case action
      when "-", "+" then heading_run(change, original, translation, names, where) if unmatched.is_a?(Heading)
      end
    detail ||=
      case action
      when "!"
        "#{where[en, mine]}: #{mine.describe}\n  does not match #{where[zh, theirs]}: #{theirs.describe}" \
          "#{block_detail(mine, theirs, names)}"
      when "-"
        "#{where[en, mine]}: #{mine.describe}\n  has no counterpart in #{zh} " \
          "(#{theirs ? "it belongs before #{where[zh, theirs]}: #{theirs.describe}" : 'it belongs at its end'})"
      else
        mine = original[change.old_position]
        "#{where[zh, theirs]}: #{theirs.describe}\n  has no counterpart in #{en} " \
          "(#{mine ? "#{en} has #{mine.describe} at line #{mine.line} there" : "#{en} ends before it"})"
      end
    "#{zh} is out of step with #{en} (#{found.size} difference#{found.size == 1 ? '' : 's'}; the first):\n  #{detail}"
  end

  # Headings match by level (and code spans) only, so when the counts differ the extra one could be
  # any of a run of same-level neighbours: name them all, between the nearest things that did match.
  def heading_run(change, original, translation, names, where)
    level = (change.action == "+" ? translation[change.new_position] : original[change.old_position]).level
    changes = Diff::LCS.sdiff(original.map(&:key), translation.map(&:key))
    at = changes.index { |c| c.old_position == change.old_position && c.new_position == change.new_position && c.action == change.action }
    anchor = ->(c) { c.action == "=" && !(original[c.old_position].is_a?(Heading) && original[c.old_position].level == level) }
    before = changes[0...at].rindex(&anchor)
    after = changes[(at + 1)..].index(&anchor)&.+(at + 1)
    runs = [[original, :old_position], [translation, :new_position]].map do |elements, side|
      from = before ? changes[before].public_send(side) + 1 : 0
      to = after ? changes[after].public_send(side) - 1 : elements.size - 1
      elements[from..to].select { |e| e.is_a?(Heading) && e.level == level }
    end
    listed = runs.zip(names).map do |run, name|
      "#{name}: #{run.empty? ? '(none)' : run.map { |h| "`#{h.text}` (line #{h.line})" }.join(', ')}"
    end
    bound = lambda do |index, word|
      next nil unless index

      "#{word} #{where[names[0], original[changes[index].old_position]]} = #{names[1]} line #{translation[changes[index].new_position].line}"
    end
    "#{names[0]} has #{runs[0].size} level-#{level} heading#{runs[0].size == 1 ? '' : 's'} where #{names[1]} has #{runs[1].size}" \
      "#{[bound[before, 'after'], bound[after, 'before']].compact.map { |b| "\n    #{b}" }.join}" \
      "\n  and one of these has no counterpart:\n    #{listed.join("\n    ")}"
  end

  # For two code blocks that should be one: what exactly differs.
  def block_detail(mine, theirs, names)
    return "" unless mine.is_a?(Block) && theirs.is_a?(Block)
    return "\n  fences differ: #{(mine.fence + mine.info).inspect} vs #{(theirs.fence + theirs.info).inspect}" if mine.fence != theirs.fence || mine.info != theirs.info
    return "\n  runnable markers differ: #{mine.marker.inspect} vs #{theirs.marker.inspect}" if mine.marker != theirs.marker

    left = mine.body.lines
    right = theirs.body.lines
    at = (0...[left.size, right.size].max).find { |i| left[i] != right[i] }
    "\n  first differing line, #{names[0]} line #{mine.line + 1 + at} vs #{names[1]} line #{theirs.line + 1 + at}:" \
      "\n    #{names[0]}: #{left[at]&.chomp.inspect}\n    #{names[1]}: #{right[at]&.chomp.inspect}"
  end

  # The prose of each section (the text between headings, outside code blocks and tables).
  def section_prose(text)
    sections = [[]]
    in_fence = nil
    text.each_line(chomp: true) do |line|
      if in_fence
        in_fence = nil if line.match?(/\A *#{Regexp.escape(in_fence[0])}{#{in_fence.size},} *\z/)
      elsif (open = FENCE.match(line))
        in_fence = open[:fence]
      elsif line.match?(/\A\#{1,6} /)
        sections << []
      elsif !line.strip.empty? && !line.start_with?("|") && !MARKER.match?(line)
        sections.last << line
      end
    end
    sections
  end
end

RSpec.describe "README.zh-CN.md" do
  root = File.expand_path("..", __dir__)
  original_text = File.read(File.join(root, "README.md"))
  translation_text = File.read(File.join(root, "README.zh-CN.md"))

  it "has README.md's headings, tables and code blocks, in the same order and the same places" do
    original = ReadmeSkeleton.parse(original_text)
    translation = ReadmeSkeleton.parse(translation_text)
    expect(original.grep(ReadmeSkeleton::Block).size).to be > 30 # the parser found README.md's examples
    report = ReadmeSkeleton.report(original, translation)
    expect(report).to be_nil, report
  end

  it "keeps the runnable markers that spec/readme_spec.rb looks for on the same blocks" do
    markers = ->(text) { text.lines.map(&:chomp).grep(ReadmeRunnable::MARKER) }
    expect(markers[original_text].size).to eq(ReadmeRunnable::EXAMPLES)
    expect(markers[translation_text]).to eq(markers[original_text])
  end

  it "is in Chinese: every section with prose in README.md has more Chinese in README.zh-CN.md" do
    original = ReadmeSkeleton.section_prose(original_text)
    translation = ReadmeSkeleton.section_prose(translation_text)
    headings = ["(before the first heading)"] +
               ReadmeSkeleton.parse(original_text).grep(ReadmeSkeleton::Heading).map { |h| "#{'#' * h.level} #{h.text}" }
    expect(translation.size).to eq(original.size), "README.zh-CN.md has #{translation.size - 1} headings, README.md #{original.size - 1}"
    # README.md's own prose has a few Chinese terms (企业微信, 接收消息); a translated section has more.
    # The text before the first heading is only the links, checked below.
    han = ->(lines) { lines.join.scan(/\p{Han}/).size }
    untranslated = (1...original.size).select do |i|
      !original[i].empty? && han[translation[i]] <= han[original[i]]
    end
    names = untranslated.map { |i| headings[i] }
    expect(names).to be_empty, "sections of README.zh-CN.md with no Chinese prose: #{names.join(', ')}"
  end

  it "is linked from the top of README.md, and links back" do
    expect(original_text.lines.first).to include("[中文文档](README.zh-CN.md)")
    expect(translation_text.lines.first).to include("(README.md)")
  end

  describe "the skeleton check" do
    base = <<~MD
      # Title

      Prose.

      ## Usage

      <!-- runnable: spec/readme_spec.rb runs this against the emulator -->
      ```ruby
      client.send_text("hi", to: "zhangsan")
      client.recall(id)
      ```

      | a | b |
      |---|---|
      | 1 | 2 |

      ### Details

      ```sh
      rake compile
      ```
    MD

    def report_for(original, translation)
      ReadmeSkeleton.report(ReadmeSkeleton.parse(original), ReadmeSkeleton.parse(translation))
    end

    it "accepts translated prose and headings" do
      translated = base.sub("# Title", "# 标题").sub("Prose.", "正文。").sub("## Usage", "## 用法").sub("### Details", "### 细节")
      expect(report_for(base, translated)).to be_nil
    end

    it "names the line of a block whose body differs, in both files, with the section" do
      report = report_for(base, base.sub("client.recall(id)", "client.recall(msgid)"))
      expect(report).to include('README.md line 8 (in "Title > Usage"): runnable ```ruby block')
      expect(report).to include("first differing line, README.md line 10 vs README.zh-CN.md line 10")
      expect(report).to include('README.md: "client.recall(id)"', 'README.zh-CN.md: "client.recall(msgid)"')
    end

    it "names a changed info string, and a missing runnable marker" do
      expect(report_for(base, base.sub("```sh", "```bash"))).to include('fences differ: "```sh" vs "```bash"')
      expect(report_for(base, base.sub(/^<!-- runnable.*\n/, ""))).to include("runnable markers differ")
    end

    it "names a heading README.md added among its same-level neighbours, between the things that match" do
      added = base.sub("### Details", "### Proxies\n\nText.\n\n### Details")
      report = report_for(added, base.sub("### Details", "### 细节"))
      expect(report).to include("README.md has 2 level-3 headings where README.zh-CN.md has 1\n" \
                                '    after README.md line 13 (in "Title > Usage") = README.zh-CN.md line 13' "\n" \
                                '    before README.md line 23 (in "Title > Usage > Details") = README.zh-CN.md line 19' "\n" \
                                "  and one of these has no counterpart")
      expect(report).to include("README.md: `Proxies` (line 17), `Details` (line 21)", "README.zh-CN.md: `细节` (line 17)")
    end

    it "names a block README.md added, and where it belongs in the translation" do
      report = report_for(base.sub("### Details", "```yaml\na: 1\n```\n\n### Details"), base)
      expect(report).to include('README.md line 17 (in "Title > Usage"): ```yaml block starting `a: 1`')
      expect(report).to include("has no counterpart in README.zh-CN.md (it belongs before README.zh-CN.md line 17 " \
                                '(in "Title > Usage > Details"): heading `### Details`)')
    end

    it "names a changed heading level, a block only the translation has, and a reshaped table" do
      expect(report_for(base, base.sub("### Details", "## Details"))).to include("heading `### Details`", "does not match", "heading `## Details`")
      expect(report_for(base, base + "\n```ruby\nextra\n```\n")).to include("has no counterpart in README.md")
      expect(report_for(base, base.sub("| 1 | 2 |", "| 1 | 2 |\n| 3 | 4 |"))).to include("table of 2 rows × 2 columns", "table of 3 rows × 2 columns")
    end

    it "keeps the code spans of headings, which are not translated" do
      with_span = "# T\n\n### Sending later: `WeCom.deliver_later`\n"
      expect(report_for(with_span, "# T\n\n### 稍后发送：`WeCom.deliver_later`\n")).to be_nil
      expect(report_for(with_span, "# T\n\n### 稍后发送\n")).to include("heading `### Sending later: `WeCom.deliver_later``", "does not match")
    end

    it "counts every difference" do
      expect(report_for(base, base.sub("rake compile", "rake").sub("## Usage", "### Usage"))).to start_with("README.zh-CN.md is out of step with README.md (2 differences; the first)")
    end

    it "refuses a fence that is never closed" do
      expect { ReadmeSkeleton.parse("```ruby\nopen\n") }.to raise_error(ArgumentError, /fence at line 1 is never closed/)
    end
  end
end
