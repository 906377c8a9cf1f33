-- A bot's datapoint schema, as posted (confab_core::datapoints::SchemaInput, JSON); NULL until set.
ALTER TABLE bots ADD COLUMN datapoint_schema TEXT;
