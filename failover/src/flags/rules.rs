//! Route 53's failover rules applied to an app's two flags, and the steps of a move.
//!
//! With P the primary and S the secondary, the flag "P is out" is held in S and "S is out" in
//! P. Each record is unhealthy while its Region's flag is set, and Route 53 answers **P when
//! P's flag is clear or S's is set** (both records unhealthy: the primary), else S. No
//! combination of flags leaves an app without an answer. The canonical states are (0, 0),
//! serving P, and (1, 0), serving S.
//!
//! A move of an app to T, away from L:
//! 1. required: "L is out" = 1, into T (the Region that stays up);
//! 2. best effort: "T is out" = 0, into L (clears a flag an earlier emergency move left);
//!    skipped when L does not answer;
//! 3. when T is the primary and step 2 was published: "L is out" = 0, into T (back to (0, 0),
//!    so that a later move to S never needs P).
//!
//! Moving away from a Region therefore never depends on it. Moving to P while S does not answer
//! leaves (1, 1), which answers P, until the next move once S answers. Moving to S while P does
//! not answer works unless P holds a stale "S is out" = 1 (left by such an emergency move),
//! which cannot be ruled out without P.

use topology::{Region, Regions};

/// The Region Route 53 answers with, given whether each Region's flag is set (or, for the
/// health checks, unhealthy); `None` when the flags known do not decide it.
pub fn answer(
    regions: &Regions,
    primary_out: Option<bool>,
    secondary_out: Option<bool>,
) -> Option<&Region> {
    match (primary_out, secondary_out) {
        (Some(false), _) | (_, Some(true)) => Some(&regions.primary),
        (Some(true), Some(false)) => Some(&regions.secondary),
        _ => None,
    }
}

/// What is worth saying about a state that is not one of the two canonical ones.
pub fn warning(
    regions: &Regions,
    primary_out: Option<bool>,
    secondary_out: Option<bool>,
) -> Option<String> {
    let (p, s) = (&regions.primary, &regions.secondary);
    match (primary_out, secondary_out) {
        (Some(false), Some(false)) | (Some(true), Some(false)) => None,
        (Some(true), Some(true)) => Some(format!(
            "both flags are set (both records unhealthy): Route 53 answers the primary, {p}, by its third rule. A move to {p} left this while {s} did not answer; the next move, once {s} answers, repairs it"
        )),
        (Some(false), Some(true)) => Some(format!(
            "the flag that takes {s} out is set in {p}: Route 53 answers {p} either way, but a move to {s} must clear it in {p} (it is cleared by the next move while {p} answers)"
        )),
        (None, None) => {
            Some("neither flag could be read: where Route 53 answers is unknown".into())
        }
        (None, Some(false)) => Some(format!(
            "the flag that takes {p} out (held in {s}) could not be read: Route 53 answers {p} if it is clear, {s} if it is set"
        )),
        (Some(true), None) => Some(format!(
            "the flag that takes {s} out (held in {p}) could not be read: Route 53 answers {s} unless a stale flag there is set (then {p})"
        )),
        // The flag known decides the answer; the other one is only unknown.
        (Some(false), None) | (None, Some(true)) => Some(format!(
            "one flag could not be read; Route 53 answers {p} whatever its value"
        )),
    }
}

/// One step of a move: which flag, which value, into which Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// "L is out" = 1 into T.
    TakeOut,
    /// "T is out" = 0 into L.
    ClearTarget,
    /// "L is out" = 0 into T, when T is the primary.
    BackToCanonical,
}

impl StepKind {
    /// The step's number in the runbook's terms.
    pub fn number(self) -> u8 {
        match self {
            Self::TakeOut => 1,
            Self::ClearTarget => 2,
            Self::BackToCanonical => 3,
        }
    }

    /// Whether the move fails when this step fails.
    pub fn required(self) -> bool {
        self == Self::TakeOut
    }

    /// (the Region whose flag is published, the value, the Region published into) for a move
    /// to `to` away from `from`.
    pub fn flag<'r>(self, to: &'r Region, from: &'r Region) -> (&'r Region, bool, &'r Region) {
        match self {
            Self::TakeOut => (from, true, to),
            Self::ClearTarget => (to, false, from),
            Self::BackToCanonical => (from, false, to),
        }
    }

    /// The steps of a move to `to`.
    pub fn of_move(regions: &Regions, to: &Region) -> Vec<Self> {
        let mut steps = vec![Self::TakeOut, Self::ClearTarget];
        if *to == regions.primary {
            steps.push(Self::BackToCanonical);
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Regions {
        Regions {
            primary: "us-east-1".parse().unwrap(),
            secondary: "us-west-2".parse().unwrap(),
        }
    }

    /// The flags after a move to `to` from `before`, each step applied as it goes when its
    /// Region answers (`None` in the result: a flag that stays unknown to the mover).
    fn moved(before: (bool, bool), to: &Region, from_answers: bool) -> (bool, bool) {
        let r = regions();
        let from = r.other(to).unwrap().clone();
        let (mut p, mut s) = before;
        let mut cleared_target = false;
        for step in StepKind::of_move(&r, to) {
            let (out, value, into) = step.flag(to, &from);
            let answers = *into == *to || from_answers;
            if step == StepKind::BackToCanonical && !cleared_target {
                continue;
            }
            if !answers {
                continue;
            }
            cleared_target |= step == StepKind::ClearTarget;
            if *out == r.primary {
                p = value;
            } else {
                s = value;
            }
        }
        (p, s)
    }

    #[test]
    fn every_combination_of_flags_has_an_answer() {
        let r = regions();
        for p in [false, true] {
            for s in [false, true] {
                assert!(answer(&r, Some(p), Some(s)).is_some(), "({p}, {s})");
            }
        }
        assert_eq!(answer(&r, Some(false), Some(false)), Some(&r.primary));
        assert_eq!(answer(&r, Some(true), Some(false)), Some(&r.secondary));
        assert_eq!(answer(&r, Some(false), Some(true)), Some(&r.primary));
        assert_eq!(
            answer(&r, Some(true), Some(true)),
            Some(&r.primary),
            "both out: the primary"
        );
    }

    #[test]
    fn a_flag_that_decides_alone_decides_and_otherwise_the_answer_is_unknown() {
        let r = regions();
        assert_eq!(answer(&r, Some(false), None), Some(&r.primary));
        assert_eq!(answer(&r, None, Some(true)), Some(&r.primary));
        assert_eq!(answer(&r, Some(true), None), None);
        assert_eq!(answer(&r, None, Some(false)), None);
        assert_eq!(answer(&r, None, None), None);
    }

    #[test]
    fn every_move_from_every_state_answers_the_target_even_when_the_region_left_is_gone() {
        let r = regions();
        for before in [(false, false), (true, false), (false, true), (true, true)] {
            for to in [&r.primary, &r.secondary] {
                for from_answers in [true, false] {
                    let after = moved(before, to, from_answers);
                    let serving = answer(&r, Some(after.0), Some(after.1)).unwrap();
                    // The one exception the runbook names: moving to the secondary without the
                    // primary, over a stale "secondary is out" flag in the primary.
                    let stale = *to == r.secondary && !from_answers && before.1;
                    if stale {
                        assert_eq!(serving, &r.primary, "{before:?} -> {to}");
                    } else {
                        assert_eq!(
                            serving, to,
                            "{before:?} -> {to}, from answers: {from_answers}"
                        );
                    }
                    if from_answers {
                        let canonical = if *to == r.primary {
                            (false, false)
                        } else {
                            (true, false)
                        };
                        assert_eq!(after, canonical, "{before:?} -> {to}");
                    }
                }
            }
        }
    }

    #[test]
    fn non_canonical_states_are_explained() {
        let r = regions();
        assert!(warning(&r, Some(false), Some(false)).is_none());
        assert!(warning(&r, Some(true), Some(false)).is_none());
        let both = warning(&r, Some(true), Some(true)).unwrap();
        assert!(
            both.contains("third rule") && both.contains("us-east-1"),
            "{both}"
        );
        let stale = warning(&r, Some(true), None).unwrap();
        assert!(stale.contains("stale"), "{stale}");
    }
}
