"""Reports over audit tables: the tables every format shows, SVG charts and one self-contained
HTML page. Knows nothing of registries or Prefect: it takes audit rows."""
