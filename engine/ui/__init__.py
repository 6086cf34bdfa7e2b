"""The web UI: plain ES modules, CSS and SVG in `static/`, served by engine.api.ui_routes (no build
step, nothing run at install); `assets` loads them once and names their version."""
