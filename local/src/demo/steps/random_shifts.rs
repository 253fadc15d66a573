//! Step 7 (`--shifts N`): the first service shifted back and forth N times, each at a random
//! phase of the clients' TTL cycle, so that the move times form a distribution rather than
//! one sample set by where the script's shift fell. The distribution is judged at the end,
//! from the traffic's report.

use rand::Rng;

use crate::demo::drill::Drill;

pub(crate) async fn run(drill: &mut Drill, shifts: u32) {
    if shifts == 0 {
        return;
    }
    let app = drill.service("orders", 0);
    let ttl = drill.world.topology().local.ttl();
    let text = format!(
        "{shifts} shifts of {app} at random phases of the {} s TTL cycle",
        ttl.as_secs()
    );
    drill.narrator.step(&text, &format!("step 7: {text}"));
    for n in 1..=shifts {
        let to = if n % 2 == 1 {
            drill.secondary.clone()
        } else {
            drill.primary.clone()
        };
        let wait = ttl.mul_f64(rand::rng().random_range(0.0..1.0));
        tokio::time::sleep(wait).await;
        let label = format!("shift {n}: {app} -> {to}");
        let phase = drill.mark_move(&app, label.clone(), &to);
        let verifying = drill.prepare_verification(std::slice::from_ref(&app)).await;
        let shifted = drill.mover.shift(std::slice::from_ref(&app), &to).await;
        drill.verify_move(label, verifying, &to);
        if let Err(error) = shifted {
            drill.fail(
                &format!("shift {n}"),
                "the shift is accepted",
                error.to_string(),
            );
            return;
        }
        let moved = drill.wait_for(&app, &to).await;
        drill.narrator.say(&format!(
            "shift {n} at phase {phase:.2} s: the live view saw it moved after {}",
            moved.map_or_else(
                || "never".to_owned(),
                |t| format!("{:.2} s", t.as_secs_f64())
            )
        ));
        // Let the mixed window close before the next shift.
        tokio::time::sleep(drill.traffic.live_window + drill.traffic.max_connection_age).await;
    }
    if shifts % 2 == 1 {
        let _ = drill
            .mover
            .shift(std::slice::from_ref(&app), &drill.primary)
            .await;
    }
}
