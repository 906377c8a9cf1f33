-- Until when a finaliser has taken an idle conversation (epoch ms): other finalisers skip it
-- meanwhile, so that the extraction and the LLM pass run once. A new message clears it.
ALTER TABLE conversations ADD COLUMN finalise_lease INTEGER;
