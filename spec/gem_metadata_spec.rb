# frozen_string_literal: true

# What RubyGems shows about the gem, and that it ships its signatures.
RSpec.describe "The gem's metadata" do
  root = File.expand_path("..", __dir__)
  spec = Gem::Specification.load(File.join(root, "wecom.gemspec"))

  it "links the homepage, source, changelog and documentation, as placeholders marked as such" do
    uris = spec.metadata.values_at("homepage_uri", "source_code_uri", "changelog_uri", "documentation_uri")
    expect(uris).to all(match(%r{\Ahttps://[^/]+/}))
    expect(spec.homepage).to eq(spec.metadata["homepage_uri"])
    # Until the project has a home: the reserved .invalid domain, which never resolves, and the
    # word PLACEHOLDER, so no one mistakes them for real addresses.
    expect(uris).to all(include("wecom.invalid/PLACEHOLDER"))
    expect(spec.metadata["changelog_uri"]).to end_with("/CHANGELOG.md")
  end

  it "packages every RBS signature in sig/" do
    signatures = Dir.chdir(root) { Dir["sig/**/*.rbs"] }
    expect(signatures).to include("sig/wecom.rbs", "sig/wecom/client.rbs", "sig/wecom/webhook.rbs")
    expect(spec.files).to include(*signatures)
  end

  it "keeps a changelog in Keep a Changelog form, with an Unreleased section" do
    changelog = File.read(File.join(root, "CHANGELOG.md"))
    expect(changelog).to include("[Keep a Changelog](https://keepachangelog.com/en/1.1.0/)")
    expect(changelog).to match(/^## \[Unreleased\]$/)
    sections = changelog.scan(/^### (.+)$/).flatten.uniq
    expect(sections - %w[Added Changed Deprecated Removed Fixed Security]).to eq([])
  end
end
