# frozen_string_literal: true

# What spec/readme_spec.rb runs and spec/readme_translation_spec.rb keeps in step: the marker on
# README blocks that run against the emulator, and how many there are (one per main section), so
# a new runnable example is counted in one place.
module ReadmeRunnable
  MARKER = "<!-- runnable: spec/readme_spec.rb runs this against the emulator -->"
  EXAMPLES = 7
end
