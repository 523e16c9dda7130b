//! The video chain as the workers run it: autorotate's filters, the source's time base where
//! a filter reads times, the user's chain with its files read from the workers' copies
//! (burn-ins, drawtext) and drawtext counting from the chunk's first frame, `fps` fed past
//! the chunk's end.

use super::{burnin, filters, JobSpec};

impl JobSpec {
    /// The names on workers of the files the chain reads: the burn-ins', then the drawtext
    /// filters', in the order `worker_filter` takes their paths.
    pub fn aux_names(&self) -> Vec<&str> {
        let burns = self.burn_in.iter().map(|b| b.remote_name.as_str());
        let texts = (self.drawtext.iter()).flat_map(|d| d.files.iter().map(|f| f.2.as_str()));
        burns.chain(texts).collect()
    }

    /// The workers' `-vf` for a chunk whose chain starts at frame `first`: autorotate's
    /// filters (their chunk files carry no display matrix), then the user's chain, its
    /// burn-ins and drawtext filters reading the worker's copies of their files (`aux`: the
    /// burn-ins', then the drawtext filters', in order), drawtext counting frames from `first`,
    /// and its `fps` fed past the chunk's end (`padded_before_fps`).
    pub fn worker_filter(&self, aux: &[String], first: usize) -> Option<String> {
        let paths: Vec<&str> = aux.iter().map(String::as_str).collect();
        let (burns, mut texts) = paths.split_at(self.burn_in.len().min(paths.len()));
        let mut edits = burnin::worker_edits(&self.burn_in, burns);
        for d in &self.drawtext {
            let (mine, rest) = texts.split_at(d.files.len().min(texts.len()));
            texts = rest;
            let mine: Vec<String> = mine.iter().map(|p| p.to_string()).collect();
            edits.push(d.worker_text(&mine, first));
        }
        let chain = (self.filter.as_deref())
            .map(|f| burnin::splice(f, edits))
            .map(|f| match self.window.fps {
                Some(_) => filters::padded_before_fps(&f),
                None => f,
            });
        // setpts truncates its product, and the subtitles filter the frame's time in
        // milliseconds, in the time base they see: the chunk file's (NUT) is finer than the
        // source's, so the workers go back to the source's first (exact)
        let tb_sensitive =
            self.window.setpts.is_some() || !self.burn_in.is_empty() || !self.drawtext.is_empty();
        let settb = (tb_sensitive && chain.is_some())
            .then(|| format!("settb={}/{}", self.sync.in_tb.num, self.sync.in_tb.den));
        let mut parts: Vec<&str> = self.rotation.filters.clone();
        parts.extend(settb.as_deref());
        parts.extend(chain.as_deref());
        (!parts.is_empty()).then(|| parts.join(","))
    }
}
