//! How the apps are spread over the ARC, flags and monitoring stacks.
//!
//! CloudFormation takes at most 500 resources, 200 parameters and 200 outputs per stack, and a
//! dashboard at most 500 widgets. Per app, an ARC stack has 6 outputs (control panel, safety
//! rule, two routing controls, two health checks) and 5 or 6 resources; a flags stack 2
//! resources and an output; a monitoring stack 2 parameters (the health checks), in us-east-1
//! 2 alarms, and a dashboard of 4 or 5 widgets. So each of these stacks holds the apps of one
//! *group*: at most [`APPS_PER_STACK`] apps, in file order, an ARC stack's group made of whole
//! control panels (a panel's resources are created in one chain, in one stack).
//!
//! The first group's stacks keep the names a deployment of one group has (`<prefix>-arc`), so a
//! deployment that grows keeps its stacks and their resources; later groups' stacks add `-2`,
//! `-3`, …. Apps added at the end of the file join the last group or start a new one; an app
//! inserted earlier can move later apps to the next group, whose stack then creates them anew
//! (new routing controls, created OFF, which the deploy turns primary ON again).

use std::fmt;

use topology::{App, AppName, ControlPanel, PanelId, Topology};

/// At most this many apps per ARC, flags or monitoring stack: 1 + 6 × 25 outputs in an ARC
/// stack, 2 × 25 + 1 parameters in a monitoring stack, at most 125 widgets per dashboard.
pub const APPS_PER_STACK: usize = 25;

/// One group of apps: its ARC stack, its flags stack in each Region, its monitoring stack in
/// each Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group(usize);

impl Group {
    /// The first group: its stacks have the names of a deployment with one group.
    pub const FIRST: Group = Group(0);

    /// Whether this is the first group.
    pub fn is_first(self) -> bool {
        self == Self::FIRST
    }

    /// The group's number, from 1.
    pub fn number(self) -> usize {
        self.0 + 1
    }

    /// What its stacks' (and dashboards') names end with: nothing for the first group, then
    /// `-2`, `-3`, ….
    pub fn suffix(self) -> String {
        if self.is_first() {
            String::new()
        } else {
            format!("-{}", self.number())
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {}", self.number())
    }
}

/// The groups of a topology's apps, by control panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    groups: Vec<Vec<(PanelId, Vec<AppName>)>>,
}

impl Layout {
    /// Packs the control panels, in order, into groups of at most [`APPS_PER_STACK`] apps: a
    /// panel that does not fit in the current group starts the next. (ARC's quota of safety
    /// rules per panel keeps a panel under [`APPS_PER_STACK`] apps; a larger one, refused by the
    /// topology's loader, would still get a group of its own.)
    pub fn new(topology: &Topology) -> Self {
        let mut groups: Vec<Vec<(PanelId, Vec<AppName>)>> = Vec::new();
        let mut in_last = 0;
        for panel in topology.control_panels() {
            let apps: Vec<AppName> = panel.apps.iter().map(|a| a.name().clone()).collect();
            if groups.is_empty() || in_last + apps.len() > APPS_PER_STACK {
                groups.push(Vec::new());
                in_last = 0;
            }
            in_last += apps.len();
            groups
                .last_mut()
                .expect("a group was just pushed")
                .push((panel.id, apps));
        }
        Self { groups }
    }

    /// Every group, in order (at least one).
    pub fn groups(&self) -> impl Iterator<Item = Group> + '_ {
        (0..self.groups.len().max(1)).map(Group)
    }

    /// The group of `app`; an app the topology does not have is in the first.
    pub fn group_of(&self, app: &AppName) -> Group {
        self.groups
            .iter()
            .position(|panels| panels.iter().any(|(_, apps)| apps.contains(app)))
            .map(Group)
            .unwrap_or(Group::FIRST)
    }

    /// The control panels of `group`, each with its apps, from `topology`.
    pub fn panels<'t>(&self, topology: &'t Topology, group: Group) -> Vec<ControlPanel<'t>> {
        self.groups
            .get(group.0)
            .into_iter()
            .flatten()
            .map(|(id, apps)| ControlPanel {
                id: id.clone(),
                apps: apps.iter().filter_map(|a| topology.app(a)).collect(),
            })
            .collect()
    }

    /// The apps of `group`, panel by panel.
    pub fn apps<'t>(&self, topology: &'t Topology, group: Group) -> Vec<&'t App> {
        self.panels(topology, group)
            .into_iter()
            .flat_map(|p| p.apps)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(apps: &[&App]) -> Vec<String> {
        apps.iter().map(|a| a.name().to_string()).collect()
    }

    #[test]
    fn a_small_topology_is_one_group() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let layout = Layout::new(&topology);
        assert_eq!(layout.groups().collect::<Vec<_>>(), [Group::FIRST]);
        assert_eq!(
            names(&layout.apps(&topology, Group::FIRST)),
            ["api", "orders", "payments", "users"]
        );
        assert_eq!(Group::FIRST.suffix(), "");
    }

    #[test]
    fn groups_hold_whole_panels_of_at_most_25_apps_in_file_order() {
        let topology = Topology::parse(testkit::SCALE_FIXTURE_TOPOLOGY).unwrap();
        let layout = Layout::new(&topology);
        let groups: Vec<Group> = layout.groups().collect();
        // 20 apps with panels of their own, then four shared panels of 20: cell-1 does not fit
        // beside the first 20, and no two cells fit together.
        let sizes: Vec<usize> = groups
            .iter()
            .map(|g| layout.apps(&topology, *g).len())
            .collect();
        assert_eq!(sizes, [20, 20, 20, 20, 20]);
        let cells: Vec<Vec<String>> = groups[1..]
            .iter()
            .map(|g| {
                layout
                    .panels(&topology, *g)
                    .iter()
                    .map(|p| p.id.to_string())
                    .collect()
            })
            .collect();
        assert_eq!(cells, [["cell-1"], ["cell-2"], ["cell-3"], ["cell-4"]]);
        assert_eq!(groups[1].suffix(), "-2");
        let orders_7: AppName = "orders-7".parse().unwrap();
        assert_eq!(layout.group_of(&orders_7), groups[1]);
        let in_order: Vec<&AppName> = groups
            .iter()
            .flat_map(|g| layout.apps(&topology, *g))
            .map(App::name)
            .collect();
        let file: Vec<&AppName> = topology.apps.iter().map(App::name).collect();
        assert_eq!(in_order, file);

        // Without shared panels, plain groups of 25 (health-check mode has no panel quota).
        let text = testkit::SCALE_FIXTURE_TOPOLOGY
            .lines()
            .filter(|l| !l.starts_with("control_panel"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                "[arc]\n",
                "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
            );
        let topology = Topology::parse(&text).unwrap();
        let layout = Layout::new(&topology);
        let sizes: Vec<usize> = layout
            .groups()
            .map(|g| layout.apps(&topology, g).len())
            .collect();
        assert_eq!(sizes, [25, 25, 25, 25]);
    }
}
