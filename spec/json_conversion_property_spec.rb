# frozen_string_literal: true

# The Ruby -> JSON conversion of a message body (ext/wecom/src/convert.rs) and JSON -> Ruby of what
# the emulator recorded, on generated values rather than hand-picked ones: a bounded random corpus,
# reproducible from the run's seed (rspec --seed N), in place of a coverage-guided fuzzer (the
# conversion walks Ruby objects, so it cannot run outside a Ruby VM as fuzz/'s targets do).
RSpec.describe "Message bodies converted to JSON (generated values)" do
  # Strings with what JSON writers get wrong: quotes, backslashes, control characters, NUL,
  # non-BMP characters, combining marks, and the Chinese a WeCom message is usually written in.
  PIECES = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u0000", "\u001f", "\u007f", "\u2028", "é",
            "e\u0301", "面试", "企业微信", "😀", "𝄞", "<", "&", "'"].freeze
  ASCII_KEYS = %w[a b content key items url title x_1 Z9].freeze

  let(:random) { Random.new(RSpec.configuration.seed) }
  let(:emulator) { WeCom::Emulator.start(corp_id: "ww-property", secret: "property-secret", agent_id: 7) }
  let(:client) { emulator.client }

  after { emulator.stop }

  def string(max = 12)
    Array.new(random.rand(0..max)) { PIECES.sample(random: random) }.join
  end

  def scalar
    case random.rand(10)
    when 0 then nil
    when 1 then random.rand(2).zero?
    when 2 then [0, 1, -1, 2**31, -2**31, 2**53 + 1, 2**63 - 1, -2**63].sample(random: random)
    when 3 then random.rand(-10**12..10**12)
    when 4 then [0.0, -0.0, 0.1, 1.0e308, -1.0e-308, 5.0e-324, 1.0 / 3, 123_456.789].sample(random: random)
    when 5 then (random.rand - 0.5) * 10**random.rand(0..20)
    when 6 then string.to_sym
    else string
    end
  end

  # A value of at most `depth` levels: Hashes with String or Symbol keys (never both forms of one
  # key), Arrays, scalars.
  def value(depth)
    return scalar if depth.zero? || random.rand(3).zero?

    if random.rand(2).zero?
      Array.new(random.rand(0..5)) { value(depth - 1) }
    else
      random.rand(0..5).times.with_object({}) do |_, hash|
        key = string(6)
        next if hash.key?(key) || hash.key?(key.to_sym)

        hash[random.rand(4).zero? ? key.to_sym : key] = value(depth - 1)
      end
    end
  end

  # What the body must look like once it is JSON: Symbols are Strings.
  def as_json(value)
    case value
    when Hash then value.to_h { |key, item| [key.to_s, as_json(item)] }
    when Array then value.map { |item| as_json(item) }
    when Symbol then value.to_s
    else value
    end
  end

  it "sends every generated body as the JSON of its value, and reads it back equal" do
    150.times do |i|
      extra = value(5)
      client.send_message("text", { "content" => "property #{i}", "extra" => extra }, to: "zhangsan")
      recorded = emulator.messages.last.fetch("text")
      expect(recorded).to eq("content" => "property #{i}", "extra" => as_json(extra)),
                          "body #{i} (seed #{RSpec.configuration.seed}): #{extra.inspect}"
    end
  end

  it "reads back every float exactly (serde_json reads floats one bit off without float_roundtrip)" do
    floats = [-1479.5135374845581, 0.1 + 0.2, 2.2250738585072014e-308, 1.7976931348623157e308, 5.0e-324]
    client.send_message("text", { "content" => "floats", "floats" => floats }, to: "zhangsan")
    expect(emulator.messages.last.dig("text", "floats")).to eq(floats)
  end

  # Values with no JSON form, and the end of the message naming why.
  BAD_LEAVES = {
    Float::NAN => "must be a finite number",
    Float::INFINITY => "must be a finite number",
    -Float::INFINITY => "must be a finite number",
    2**64 => "is an integer too large for JSON",
    -2**63 - 1 => "is an integer too large for JSON",
    "\xff\xfe".b => "must be valid UTF-8",
    "\xC3".dup.force_encoding("UTF-8") => "must be valid UTF-8",
    Object.new => "holds a Object, which has no JSON form",
    Time.at(0) => "holds a Time, which has no JSON form",
    1..2 => "holds a Range, which has no JSON form"
  }.freeze

  it "refuses a generated body with one value that has no JSON form, naming where it is, and sends nothing" do
    100.times do |i|
      bad, reason = BAD_LEAVES.to_a.sample(random: random)
      body = { "content" => "x" }
      path = "text"
      container = body
      # Puts `item` into `container` (after a few other items, in an Array) and extends `path` to it.
      put = lambda do |item|
        if container.is_a?(Array)
          container << value(1) while container.size < random.rand(0..3)
          path += "[#{container.size}]"
          container << item
        else
          key = ASCII_KEYS.sample(random: random)
          path += "[#{key.inspect}]"
          container[key] = item
        end
      end
      random.rand(1..5).times do
        inner = random.rand(2).zero? ? {} : []
        put.call(inner)
        container = inner
      end
      put.call(bad)

      message = "#{path} #{reason}"
      message += " (use String, Symbol, Integer, Float, true, false, nil, Array or Hash)" if reason.include?("JSON form")
      expect { client.send_message("text", body, to: "zhangsan") }
        .to raise_error(ArgumentError, message), "body #{i} (seed #{RSpec.configuration.seed}): #{body.inspect}"
    end
    expect(emulator.messages).to be_empty
  end
end
