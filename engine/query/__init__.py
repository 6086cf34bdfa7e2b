"""Query: the language (parser), the plan over parts, filters, stages, and rendering rows."""
