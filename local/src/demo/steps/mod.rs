//! The drill's steps, one module each. Each is a function of the
//! [`Drill`](super::drill::Drill): it announces itself, acts on the world, measures and
//! records its expectations. The demo runs them in this order: [`steady_state`],
//! [`writes::in_primary`], [`last_writer_wins`], [`replication_gate`], [`planned_shift`],
//! [`outage`], [`evacuate`], [`writes::after_repair`], [`fail_back`], and with `--shifts`
//! [`random_shifts`].

pub(crate) mod evacuate;
pub(crate) mod fail_back;
pub(crate) mod last_writer_wins;
pub(crate) mod outage;
pub(crate) mod planned_shift;
pub(crate) mod random_shifts;
pub(crate) mod replication_gate;
pub(crate) mod steady_state;
pub(crate) mod writes;
