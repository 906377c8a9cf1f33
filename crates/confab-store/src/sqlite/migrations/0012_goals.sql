-- Conversations that reached one of their bot's goal steps (confab_core::Summary::completed),
-- counted like conversations: in the slot of the conversation's start. Rows written before
-- existed no goals, so 0 is their true count.
ALTER TABLE rollups ADD COLUMN completed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dim_rollups ADD COLUMN completed INTEGER NOT NULL DEFAULT 0;
