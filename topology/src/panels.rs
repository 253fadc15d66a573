//! ARC control panels: an app's own (the default), or one that several apps share
//! (`control_panel = "<name>"` in their `[[apps]]` entries). Sharing panels is how a topology
//! stays within ARC's quota of control panels per cluster ([`crate::quota`]).

use std::fmt;

use crate::{App, AppName, PanelName, Topology};

/// Which control panel: an app's own, or a shared one, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PanelId {
    /// The panel of the one app of this name.
    Own(AppName),
    /// A panel that the apps naming it in `control_panel` share.
    Shared(PanelName),
}

impl PanelId {
    /// The app's or the shared panel's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Own(app) => app.as_str(),
            Self::Shared(panel) => panel.as_str(),
        }
    }

    /// The panel `app` is in.
    pub fn of(app: &App) -> Self {
        match app.control_panel() {
            Some(panel) => Self::Shared(panel.clone()),
            None => Self::Own(app.name().clone()),
        }
    }
}

impl fmt::Display for PanelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One control panel and its apps, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPanel<'t> {
    pub id: PanelId,
    pub apps: Vec<&'t App>,
}

impl Topology {
    /// The control panels, in the order of their first app in the file, each with its apps in
    /// file order.
    pub fn control_panels(&self) -> Vec<ControlPanel<'_>> {
        let mut panels: Vec<ControlPanel<'_>> = Vec::new();
        for app in &self.apps {
            let id = PanelId::of(app);
            match panels.iter_mut().find(|p| p.id == id) {
                Some(panel) => panel.apps.push(app),
                None => panels.push(ControlPanel {
                    id,
                    apps: vec![app],
                }),
            }
        }
        panels
    }
}

/// A shared panel may not take the name of an app outside it: ARC names both panels after that
/// name, and two panels of one name in one cluster could not be told apart.
pub(crate) fn check_names(topology: &Topology) -> Result<(), String> {
    for app in &topology.apps {
        let Some(panel) = app.control_panel() else {
            continue;
        };
        if let Some(namesake) = topology
            .apps
            .iter()
            .find(|other| other.name().as_str() == panel.as_str())
            && namesake.control_panel() != Some(panel)
        {
            return Err(format!(
                "control panel `{panel}` of `{}` has the name of app `{}`, which has a panel \
                 of its own by that name: rename the panel, or put `{}` in it too",
                app.name(),
                namesake.name(),
                namesake.name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(panel: &ControlPanel<'_>) -> Vec<String> {
        panel.apps.iter().map(|a| a.name().to_string()).collect()
    }

    fn with_panels(edit: impl Fn(String) -> String) -> Result<Topology, crate::TopologyError> {
        Topology::parse(&edit(testkit::FIXTURE_TOPOLOGY.to_owned()))
    }

    fn share(text: String, app: &str, panel: &str) -> String {
        let head = format!("name = \"{app}\"\nkind = ");
        let at = text.find(&head).expect("the app is in the fixture");
        let line_end = at + text[at + head.len()..].find('\n').unwrap() + head.len() + 1;
        format!(
            "{}control_panel = \"{panel}\"\n{}",
            &text[..line_end],
            &text[line_end..]
        )
    }

    #[test]
    fn each_app_has_its_own_panel_unless_it_names_a_shared_one() {
        let topology = with_panels(|s| s).unwrap();
        let panels = topology.control_panels();
        assert_eq!(panels.len(), 4);
        assert!(
            panels
                .iter()
                .all(|p| matches!(&p.id, PanelId::Own(a) if names(p) == [a.as_str()]))
        );

        let topology =
            with_panels(|s| share(share(s, "payments", "checkout"), "api", "checkout")).unwrap();
        let panels = topology.control_panels();
        let listed: Vec<(String, Vec<String>)> = panels
            .iter()
            .map(|p| (p.id.to_string(), names(p)))
            .collect();
        assert_eq!(
            listed,
            [
                ("checkout".into(), vec!["api".into(), "payments".into()]),
                ("orders".into(), vec!["orders".into()]),
                ("users".into(), vec!["users".into()]),
            ],
            "in the order of each panel's first app"
        );
        let api = topology.app(&"api".parse().unwrap()).unwrap();
        assert_eq!(api.control_panel().unwrap().as_str(), "checkout");
    }

    #[test]
    fn a_shared_panel_may_not_take_the_name_of_an_app_outside_it() {
        let err = with_panels(|s| share(s, "payments", "orders")).unwrap_err();
        assert!(
            err.to_string()
                .contains("control panel `orders` of `payments`"),
            "{err}"
        );
        let both = with_panels(|s| share(share(s, "payments", "orders"), "orders", "orders"));
        assert_eq!(both.unwrap().control_panels().len(), 3);
        let err = with_panels(|s| share(s, "payments", "Check_Out")).unwrap_err();
        assert!(err.to_string().contains("control panel name"), "{err}");
    }
}
