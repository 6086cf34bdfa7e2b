"""LogQL, Grafana Loki's query language, as a second front end to logjet's query engine: the
parse tree (`syntax`), its parser, its translation to logjet filters and stages, and the
evaluation of metric queries over logjet's histogram stage (see docs/grafana.md)."""
