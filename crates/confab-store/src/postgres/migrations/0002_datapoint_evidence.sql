-- Why extraction gave a key its value (confab_core::datapoints::Evidence): 0 only key, 1 schema
-- order, 2 mentioned, 3 asked, 4 corrected, 5 confirmed; NULL for explicit and LLM values, and
-- for values stored before this column existed (their evidence was never recorded). A nullable
-- column without a default is added without rewriting the table.
ALTER TABLE datapoints ADD COLUMN evidence smallint;
