"""The pytest plugin: worker-side hooks that stream events to the app. Never imports Textual."""
