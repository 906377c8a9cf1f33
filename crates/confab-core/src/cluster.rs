//! Groups the messages a bot could not answer (`handled: false`) by similar wording, so a team
//! sees *what* users asked. Offline and deterministic: each text becomes a TF-IDF vector of
//! language-neutral features (Unicode-folded words, 5-letter word prefixes as a crude stem, word
//! pairs and character trigrams), and a single greedy pass puts each distinct text — the most
//! frequent first — into the cluster whose centroid is nearest by cosine, or opens a new one
//! below [`THRESHOLD`]. No stop list: words frequent across all the texts ("my", "the", "mój")
//! weigh little through their IDF, in any language. Candidate clusters are found through an
//! inverted index of each text's heaviest features, so the pass stays near-linear.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use utoipa::ToSchema;

use crate::FieldError;
use crate::search::fold_letters;
use crate::series::{parse_range, parse_zone};
use crate::time::{Millis, format_rfc3339};

/// Cosine similarity to a cluster's centroid from which a text joins it (measured on the
/// labelled paraphrases of the tests: purity and coverage are printed there).
pub const THRESHOLD: f32 = 0.30;

/// How many of a text's heaviest word features look up candidate clusters (a cluster is
/// indexed under all its members' word features).
const PROBES: usize = 8;

/// Of the clusters a text's probes find, the ones compared with it: those sharing the most
/// probes (then the older, larger ones). Bounds the pass when many clusters share a common
/// word — 20,000 texts all worded differently, say.
const MAX_CANDIDATES: usize = 64;

/// At most this many not-handled messages of a range are clustered: those marked last. A report
/// over more says so (`truncated`, `covered_from`).
pub const MESSAGE_CAP: u32 = 20_000;

/// Equal slices of the range in a cluster's trend (its sparkline).
pub const TREND_BUCKETS: usize = 30;

/// Example messages (the newest) per cluster.
pub const EXAMPLES: usize = 3;

/// Clusters in a report, the largest first; the rest are counted in `clusters_total`.
pub const CLUSTERS_SHOWN: usize = 100;

/// Parses `start_time`, `end_time` (required) and `tz` (for date bounds); anything else is an
/// unknown parameter.
pub fn parse_request(params: &[(String, String)]) -> Result<(Millis, Millis), FieldError> {
    let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some((k, _)) =
        params.iter().find(|(k, _)| !matches!(k.as_str(), "start_time" | "end_time" | "tz"))
    {
        return Err(FieldError::new(k, "unknown query parameter"));
    }
    let tz = parse_zone(get("tz"))?;
    parse_range(get("start_time"), get("end_time"), &tz)
}

/// What a bot could not answer in a range, grouped by wording.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnhandledReport {
    pub start_time: String,
    pub end_time: String,
    /// Not-handled user messages clustered (at most `message_limit`).
    pub messages: u64,
    /// The cap on messages clustered; those marked last are kept.
    pub message_limit: u32,
    /// Whether the range held more not-handled messages than `message_limit`.
    pub truncated: bool,
    /// When truncated, the time of the oldest message clustered (older ones were left out).
    pub covered_from: Option<String>,
    /// Clusters found; at most 100 (the largest) are listed.
    pub clusters_total: u64,
    pub clusters: Vec<ClusterView>,
}

/// One group of similar not-handled messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterView {
    /// The group's most frequent wording.
    pub phrase: String,
    pub count: u64,
    /// `count` over the report's `messages`.
    pub share: f64,
    /// Counts over 30 equal slices of the range, oldest first.
    pub trend: Vec<u64>,
    /// The newest messages of the group (up to 3).
    pub examples: Vec<Example>,
}

/// A message of a cluster, with the conversation it belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UnhandledExample)]
pub struct Example {
    pub conversation_id: String,
    pub content: String,
    pub timestamp: String,
}

/// Clusters `messages` (newest first, as the store returns them; at most [`MESSAGE_CAP`], and
/// `truncated` when the store had more) into a report over `[start, end)`.
pub fn report(
    messages: &[UnhandledMessage],
    (start, end): (Millis, Millis),
    truncated: bool,
) -> UnhandledReport {
    let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    let clusters = cluster(&texts);
    let total = messages.len().max(1) as f64;
    UnhandledReport {
        start_time: format_rfc3339(start),
        end_time: format_rfc3339(end),
        messages: messages.len() as u64,
        message_limit: MESSAGE_CAP,
        truncated,
        covered_from: truncated
            .then(|| messages.iter().map(|m| m.ts).min().map(format_rfc3339))
            .flatten(),
        clusters_total: clusters.len() as u64,
        clusters: clusters
            .into_iter()
            .take(CLUSTERS_SHOWN)
            .map(|c| {
                let mut newest = c.members.clone();
                newest.sort_by_key(|&i| (std::cmp::Reverse(messages[i].ts), i));
                ClusterView {
                    phrase: c.representative,
                    count: c.members.len() as u64,
                    share: c.members.len() as f64 / total,
                    trend: trend(
                        c.members.iter().map(|&i| messages[i].ts),
                        start,
                        end,
                        TREND_BUCKETS,
                    ),
                    examples: newest
                        .into_iter()
                        .take(EXAMPLES)
                        .map(|i| Example {
                            conversation_id: messages[i].conversation_id.clone(),
                            content: messages[i].content.clone(),
                            timestamp: format_rfc3339(messages[i].ts),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

/// A user message the bot did not handle, as the store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnhandledMessage {
    pub conversation_id: String,
    pub ts: Millis,
    pub content: String,
}

/// A group of similar texts: `members` index the input, the most frequent wording first.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// The cluster's most frequent wording (as first written).
    pub representative: String,
    pub members: Vec<usize>,
}

/// Words of a text: lower-cased, accents and special letters folded, digits as `0`, split on
/// anything that is not a letter or a digit (any script).
pub fn words(text: &str) -> Vec<String> {
    let folded: String = fold_letters(&text.to_lowercase())
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| if c.is_numeric() { '0' } else { c })
        .collect();
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A feature of a text, as a 64-bit hash of its kind and content (collisions among the few
/// hundred thousand features of a range are vanishingly unlikely), and whether it is lexical
/// (a word, prefix or word pair: those find candidate clusters) rather than a character trigram.
fn features(words: &[String]) -> Vec<(u64, bool)> {
    let hash = |kind: u8, parts: &[&[u8]]| {
        let mut h = IdHasher(u64::from(kind));
        for p in parts {
            h.write(p);
            h.write(&[0xff]);
        }
        h.finish()
    };
    let mut out = Vec::with_capacity(words.len() * 8);
    let mut buf = [0u8; 4];
    for (i, w) in words.iter().enumerate() {
        out.push((hash(b'w', &[w.as_bytes()]), true));
        if let Some((at, _)) = w.char_indices().nth(5) {
            out.push((hash(b'p', &[&w.as_bytes()[..at]]), true));
        }
        let chars: Vec<char> = std::iter::once('^').chain(w.chars()).chain(['$']).collect();
        for t in chars.windows(3) {
            let mut h = IdHasher(u64::from(b'c'));
            for c in t {
                h.write(c.encode_utf8(&mut buf).as_bytes());
            }
            out.push((h.finish(), false));
        }
        if let Some(next) = words.get(i + 1) {
            out.push((hash(b'b', &[w.as_bytes(), next.as_bytes()]), true));
        }
    }
    out
}

/// Hashes a feature id for a centroid's weights: ids are dense small integers, so one
/// multiplication spreads them (the dot products are the clustering's hot loop; SipHash was a
/// third of it).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type Weights = HashMap<u32, f32, BuildHasherDefault<IdHasher>>;

/// Clusters the texts; the result is sorted by size (then representative), and every input index
/// is in exactly one cluster.
pub fn cluster(texts: &[&str]) -> Vec<Cluster> {
    // Identical wordings are one point, weighted by how often they occur.
    let mut by_norm: HashMap<Vec<String>, usize> = HashMap::new();
    let mut distinct: Vec<(Vec<String>, Vec<usize>)> = vec![];
    for (i, t) in texts.iter().enumerate() {
        let w = words(t);
        match by_norm.get(&w) {
            Some(&d) => distinct[d].1.push(i),
            None => {
                by_norm.insert(w.clone(), distinct.len());
                distinct.push((w, vec![i]));
            }
        }
    }
    // Feature ids and document frequencies (over messages, so frequent wordings count).
    let mut ids: HashMap<u64, u32, BuildHasherDefault<IdHasher>> = HashMap::default();
    let mut df: Vec<f32> = vec![];
    // Word, prefix and word-pair features (not trigrams) find candidate clusters.
    let mut lexical: Vec<bool> = vec![];
    let mut raw: Vec<Vec<(u32, f32)>> = Vec::with_capacity(distinct.len());
    for (w, members) in &distinct {
        let mut tf: Vec<(u32, f32)> = vec![];
        for (f, is_lexical) in features(w) {
            let next = ids.len() as u32;
            let id = *ids.entry(f).or_insert(next);
            if id as usize == df.len() {
                df.push(0.0);
                lexical.push(is_lexical);
            }
            tf.push((id, 1.0));
        }
        tf.sort_unstable_by_key(|x| x.0);
        tf.dedup_by(|a, b| {
            if a.0 == b.0 {
                b.1 += a.1;
                true
            } else {
                false
            }
        });
        for &(id, _) in &tf {
            df[id as usize] += members.len() as f32;
        }
        raw.push(tf);
    }
    let n = texts.len() as f32;
    let vectors: Vec<Vec<(u32, f32)>> = raw
        .into_iter()
        .map(|tf| {
            let mut v: Vec<(u32, f32)> = tf
                .into_iter()
                .map(|(id, c)| {
                    (id, (1.0 + c.ln()) * (((n + 1.0) / (df[id as usize] + 1.0)).ln() + 1.0))
                })
                .collect();
            let norm = v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| x.1 /= norm.max(f32::MIN_POSITIVE));
            v
        })
        .collect();

    // The greedy pass, most frequent wordings first (ties by wording, for determinism).
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by(|&a, &b| {
        distinct[b]
            .1
            .len()
            .cmp(&distinct[a].1.len())
            .then_with(|| distinct[a].0.cmp(&distinct[b].0))
    });
    struct Centroid {
        weights: Weights,
        norm2: f32,
        distinct: Vec<usize>,
    }
    let mut clusters: Vec<Centroid> = vec![];
    // Per feature id, the clusters indexed under it.
    let mut postings: Vec<Vec<usize>> = vec![vec![]; df.len()];
    let mut candidates: Vec<usize> = vec![];
    // Per cluster, how many of the current text's probes found it (zero between texts).
    let mut hits: Vec<u8> = vec![];
    for d in order {
        let v = &vectors[d];
        let mut probes: Vec<&(u32, f32)> = v.iter().filter(|x| lexical[x.0 as usize]).collect();
        probes.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        probes.truncate(PROBES);
        candidates.clear();
        for p in &probes {
            for &c in &postings[p.0 as usize] {
                if hits[c] == 0 {
                    candidates.push(c);
                }
                hits[c] += 1;
            }
        }
        if candidates.len() > MAX_CANDIDATES {
            candidates.sort_unstable_by_key(|&c| (std::cmp::Reverse(hits[c]), c));
            for &c in &candidates[MAX_CANDIDATES..] {
                hits[c] = 0;
            }
            candidates.truncate(MAX_CANDIDATES);
        }
        for &c in &candidates {
            hits[c] = 0;
        }
        candidates.sort_unstable();
        let mut best: Option<(usize, f32)> = None;
        for &c in &candidates {
            let cl = &clusters[c];
            let dot: f32 =
                v.iter().map(|(id, w)| w * cl.weights.get(id).copied().unwrap_or(0.0)).sum();
            let cos = dot / cl.norm2.sqrt().max(f32::MIN_POSITIVE);
            if cos >= THRESHOLD && best.is_none_or(|(_, b)| cos > b) {
                best = Some((c, cos));
            }
        }
        let c = match best {
            Some((c, _)) => c,
            None => {
                clusters.push(Centroid {
                    weights: Weights::default(),
                    norm2: 0.0,
                    distinct: vec![],
                });
                hits.push(0);
                clusters.len() - 1
            }
        };
        let weight = distinct[d].1.len() as f32;
        let cl = &mut clusters[c];
        for &(id, w) in v {
            let e = cl.weights.entry(id).or_insert_with(|| {
                // A lexical feature new to the cluster finds it from now on (one that it
                // already had was posted when it came).
                if lexical[id as usize] {
                    postings[id as usize].push(c);
                }
                0.0
            });
            let old = *e;
            *e += weight * w;
            cl.norm2 += *e * *e - old * old;
        }
        cl.distinct.push(d);
    }

    let mut out: Vec<Cluster> = clusters
        .into_iter()
        .map(|cl| {
            // The first distinct text of a cluster is its most frequent.
            let representative = texts[distinct[cl.distinct[0]].1[0]].trim().to_owned();
            let mut members: Vec<usize> = vec![];
            for d in cl.distinct {
                members.extend_from_slice(&distinct[d].1);
            }
            Cluster { representative, members }
        })
        .collect();
    out.sort_by(|a, b| {
        b.members.len().cmp(&a.members.len()).then_with(|| a.representative.cmp(&b.representative))
    });
    out
}

/// Counts timestamps in `buckets` equal slices of `[start, end)` (those outside are ignored).
pub fn trend(
    ts: impl IntoIterator<Item = Millis>,
    start: Millis,
    end: Millis,
    buckets: usize,
) -> Vec<u64> {
    let mut out = vec![0u64; buckets];
    let span = (end - start).max(1) as i128;
    for t in ts {
        if t >= start && t < end && buckets > 0 {
            let i = ((t - start) as i128 * buckets as i128 / span) as usize;
            out[i.min(buckets - 1)] += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_accents_digits_and_any_script() {
        assert_eq!(
            words("Où est MA commande n°1234 ?"),
            ["ou", "est", "ma", "commande", "n", "0000"]
        );
        assert_eq!(words("Gdzie jest moja przesyłka?"), ["gdzie", "jest", "moja", "przesylka"]);
        assert_eq!(words("Где мой заказ"), ["где", "мои", "заказ"]);
    }

    #[test]
    fn identical_and_near_wordings_share_a_cluster_and_every_text_is_placed() {
        let texts = [
            "Where is my order?",
            "where is my order",
            "Where is my order #123?",
            "I want to cancel my subscription",
            "cancel my subscription please",
            "What's the weather on Mars",
        ];
        let got = cluster(&texts);
        let mut all: Vec<usize> = got.iter().flat_map(|c| c.members.clone()).collect();
        all.sort();
        assert_eq!(all, (0..texts.len()).collect::<Vec<_>>());
        assert_eq!(got[0].representative, "Where is my order?");
        assert_eq!(got[0].members, [0, 1, 2]);
        let cancel = got.iter().find(|c| c.members.contains(&3)).unwrap();
        assert!(cancel.members.contains(&4));
        assert!(!cancel.members.contains(&5));
        assert_eq!(cluster(&texts), got, "deterministic");
    }

    #[test]
    fn a_report_has_shares_trends_and_newest_examples() {
        let m = |c: &str, ts: Millis, text: &str| UnhandledMessage {
            conversation_id: c.into(),
            ts,
            content: text.into(),
        };
        let msgs = [
            m("c3", 2_000, "where is my order"),
            m("c2", 1_000, "Where is my order?"),
            m("c1", 0, "tell me a joke"),
        ];
        let r = report(&msgs, (0, 3_000), false);
        assert_eq!(
            (r.messages, r.clusters_total, r.truncated, r.covered_from.clone()),
            (3, 2, false, None)
        );
        let first = &r.clusters[0];
        assert_eq!((first.phrase.as_str(), first.count), ("where is my order", 2));
        assert!((first.share - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(first.trend.iter().sum::<u64>(), 2);
        assert_eq!((first.trend[10], first.trend[20]), (1, 1));
        assert_eq!(
            first.examples.iter().map(|e| e.conversation_id.as_str()).collect::<Vec<_>>(),
            ["c3", "c2"]
        );
        let truncated = report(&msgs, (0, 3_000), true);
        assert_eq!(truncated.covered_from.as_deref(), Some("1970-01-01T00:00:00.000Z"));
    }

    #[test]
    fn unknown_and_missing_parameters_name_their_field() {
        let p = |v: &[(&str, &str)]| {
            v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>()
        };
        assert_eq!(
            parse_request(&p(&[("start_time", "2026-01-01"), ("end_time", "2026-01-02")])).unwrap(),
            (1_767_225_600_000, 1_767_312_000_000)
        );
        assert_eq!(
            parse_request(&p(&[("start_time", "2026-01-01")])).unwrap_err().field,
            "end_time"
        );
        assert_eq!(
            parse_request(&p(&[
                ("start_time", "2026-01-01"),
                ("end_time", "2026-01-02"),
                ("group_by", "x")
            ]))
            .unwrap_err()
            .field,
            "group_by"
        );
    }

    #[test]
    fn trend_counts_equal_slices_of_the_range() {
        assert_eq!(trend([0, 9, 10, 19, 29, 30, -1], 0, 30, 3), [2, 2, 1]);
    }
}
