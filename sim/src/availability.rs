//! Availability: components that fail and get repaired, composed in series and in parallel.
//!
//! The topology is fixed: a load balancer, then `replicas` application servers in parallel,
//! then a database, optionally with a standby in parallel with it. The system is up when the
//! load balancer, at least one replica and at least one database server are up, so
//!
//! ```text
//! A = A_lb × (1 − (1 − A_app)^replicas) × A_db_tier,
//! A_db_tier = A_db, or 1 − (1 − A_db)² with a standby.
//! ```
//!
//! Each component alternates between up and down independently. Its time to failure and its
//! time to repair are exponential with means MTBF and MTTR, where MTTR is `mttr_h` and MTBF
//! follows from the component's availability: `A = MTBF / (MTBF + MTTR)`. The engine measures
//! the share of simulated time the system was up, which converges to the formula.
//!
//! Each [`Engine::step`] simulates [`HOURS_PER_STEP`] hours (one week) but moves the playback
//! clock, [`Engine::now_ms`], by only [`STEP_MS`], so a widget plays a simulated year in about
//! 2.6 seconds at normal speed. Simulated time is in hours everywhere else.
//!
//! The reader can crash a component by hand through [`Faults`]; it stays down, and does not
//! repair itself, until restarted.
//!
//! NOTE: failover is instantaneous here. A real standby database takes seconds to minutes to
//! take over, and that time counts as downtime.

use serde::{Deserialize, Serialize};

use crate::faults::{Fault, FaultKind, Faults, NodeStatus};
use crate::metrics::{Metric, Sample, Snapshot};
use crate::rng::SimRng;
use crate::{ActionError, Config, ConfigError, Engine};

/// Playback time that one [`Engine::step`] advances, in milliseconds.
pub const STEP_MS: f64 = 50.0;

/// Simulated time that one [`Engine::step`] covers, in hours: one week.
pub const HOURS_PER_STEP: f64 = 168.0;

/// Hours in a year of 365 days.
pub const HOURS_PER_YEAR: f64 = 8760.0;

/// Hours in 30 days.
pub const HOURS_PER_30_DAYS: f64 = 720.0;

/// Largest availability a component may have: a finite MTBF needs a value below 1.
pub const MAX_COMPONENT_AVAILABILITY: f64 = 0.999_999;

/// Parameters of the availability widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AvailabilityConfig {
    /// Application servers behind the load balancer, in parallel, 1 to 8.
    pub replicas: u32,
    /// Availability of the load balancer, 0.5 to 0.999999.
    pub lb_availability: f64,
    /// Availability of each application server, 0.5 to 0.999999.
    pub app_availability: f64,
    /// Availability of the database and of its standby, 0.5 to 0.999999.
    pub db_availability: f64,
    /// Whether a standby database runs in parallel with the primary.
    pub standby: bool,
    /// Mean time to repair of every component, in hours.
    pub mttr_h: f64,
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        Self {
            replicas: 2,
            lb_availability: 0.999,
            app_availability: 0.99,
            db_availability: 0.999,
            standby: false,
            mttr_h: 1.0,
        }
    }
}

impl Config for AvailabilityConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let max = MAX_COMPONENT_AVAILABILITY;
        ConfigError::check_range_u32("replicas", self.replicas, 1, 8)?;
        ConfigError::check_range_f64("lb_availability", self.lb_availability, 0.5, max)?;
        ConfigError::check_range_f64("app_availability", self.app_availability, 0.5, max)?;
        ConfigError::check_range_f64("db_availability", self.db_availability, 0.5, max)?;
        ConfigError::check_range_f64("mttr_h", self.mttr_h, 0.1, 720.0)?;
        Ok(())
    }
}

impl AvailabilityConfig {
    /// Computes the system's availability from the series and parallel formulas.
    pub fn formula(&self) -> f64 {
        let apps = parallel(&vec![self.app_availability; self.replicas as usize]);
        let database = if self.standby {
            parallel(&[self.db_availability, self.db_availability])
        } else {
            self.db_availability
        };
        series(&[self.lb_availability, apps, database])
    }
}

/// Returns the availability of components in series: all must be up.
pub fn series(availabilities: &[f64]) -> f64 {
    availabilities.iter().product()
}

/// Returns the availability of components in parallel: one up is enough.
pub fn parallel(availabilities: &[f64]) -> f64 {
    1.0 - availabilities.iter().map(|a| 1.0 - a).product::<f64>()
}

/// Returns the nines of an availability: 2 for 99%, 3 for 99.9%.
pub fn nines(availability: f64) -> f64 {
    let unavailable = (1.0 - availability).max(1e-12);
    -libm::log10(unavailable)
}

/// The role of a component in the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The load balancer, in series with everything.
    LoadBalancer,
    /// An application server, in parallel with the other replicas.
    App,
    /// The primary database.
    Database,
    /// The standby database, in parallel with the primary.
    Standby,
}

/// What a reader can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Crashes or restarts the component whose id is the fault's node id: 0 is the load
    /// balancer, `1..=replicas` the application servers, then the database and the standby.
    Fault(Fault),
}

/// What happened. Times are simulated hours since the start.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A component failed on its own.
    Failed {
        /// Simulated time in hours.
        at_h: f64,
        /// Component id.
        component: u32,
    },
    /// A component was repaired.
    Repaired {
        /// Simulated time in hours.
        at_h: f64,
        /// Component id.
        component: u32,
    },
    /// The reader crashed a component; it stays down until restarted.
    Crashed {
        /// Simulated time in hours.
        at_h: f64,
        /// Component id.
        component: u32,
    },
    /// The reader restarted a crashed component.
    Restarted {
        /// Simulated time in hours.
        at_h: f64,
        /// Component id.
        component: u32,
    },
    /// The system went down: a tier has no component up.
    SystemDown {
        /// Simulated time in hours.
        at_h: f64,
    },
    /// The system came back up.
    SystemUp {
        /// Simulated time in hours.
        at_h: f64,
        /// Length of the outage, in hours.
        outage_h: f64,
    },
}

/// One component, as the widget draws it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// Component id, as [`Faults`] numbers them.
    pub id: u32,
    /// Role in the topology.
    pub role: Role,
    /// Configured availability.
    pub availability: f64,
    /// Whether the component is up now.
    pub up: bool,
    /// Whether the reader crashed it, so it waits for a restart instead of a repair.
    pub crashed: bool,
    /// Simulated hours the component has been up.
    pub uptime_h: f64,
    /// Simulated time of its next failure or repair, in hours; infinite while crashed.
    next_h: f64,
}

/// The availability engine.
#[derive(Debug, Clone)]
pub struct Availability {
    config: AvailabilityConfig,
    rng: SimRng,
    steps: u64,
    now_h: f64,
    components: Vec<Component>,
    system_up: bool,
    system_uptime_h: f64,
    down_since_h: f64,
    outages: u64,
}

impl Availability {
    /// Returns the configuration the engine runs with.
    pub fn config(&self) -> &AvailabilityConfig {
        &self.config
    }

    /// Returns the components: the load balancer, the replicas, the database, the standby.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// Returns the simulated time since the start, in hours.
    pub fn now_h(&self) -> f64 {
        self.now_h
    }

    /// Returns whether the system is up now.
    pub fn system_up(&self) -> bool {
        self.system_up
    }

    /// Returns the outages since the start.
    pub fn outages(&self) -> u64 {
        self.outages
    }

    /// Returns the availability from the formula.
    pub fn formula(&self) -> f64 {
        self.config.formula()
    }

    /// Returns the share of simulated time the system was up, or 1 before any time passed.
    pub fn measured(&self) -> f64 {
        if self.now_h > 0.0 {
            self.system_uptime_h / self.now_h
        } else {
            1.0
        }
    }

    /// Returns the share of simulated time component `id` was up, or `None` if there is none.
    pub fn measured_component(&self, id: u32) -> Option<f64> {
        let component = self.components.get(id as usize)?;
        Some(if self.now_h > 0.0 {
            component.uptime_h / self.now_h
        } else {
            1.0
        })
    }

    fn mean_up_h(&self, availability: f64) -> f64 {
        self.config.mttr_h * availability / (1.0 - availability)
    }

    fn tier_up(&self, roles: &[Role]) -> bool {
        self.components
            .iter()
            .any(|component| roles.contains(&component.role) && component.up)
    }

    fn compute_system_up(&self) -> bool {
        self.tier_up(&[Role::LoadBalancer])
            && self.tier_up(&[Role::App])
            && self.tier_up(&[Role::Database, Role::Standby])
    }

    /// Moves simulated time to `to_h`, adding up uptime at the current states.
    fn advance_to(&mut self, to_h: f64) {
        let elapsed = (to_h - self.now_h).max(0.0);
        for component in &mut self.components {
            if component.up {
                component.uptime_h += elapsed;
            }
        }
        if self.system_up {
            self.system_uptime_h += elapsed;
        }
        self.now_h = self.now_h.max(to_h);
    }

    /// Records a change of the system's state after a component changed.
    fn update_system(&mut self, events: &mut Vec<Event>) {
        let up = self.compute_system_up();
        if up == self.system_up {
            return;
        }
        self.system_up = up;
        let at_h = self.now_h;
        if up {
            events.push(Event::SystemUp {
                at_h,
                outage_h: at_h - self.down_since_h,
            });
        } else {
            self.outages += 1;
            self.down_since_h = at_h;
            events.push(Event::SystemDown { at_h });
        }
    }

    /// Flips the component at `index` between up and down and draws its next transition.
    fn transition(&mut self, index: usize, events: &mut Vec<Event>) {
        let mttr_h = self.config.mttr_h;
        let Some(component) = self.components.get(index) else {
            return;
        };
        let (up, availability) = (component.up, component.availability);
        let gap = if up {
            self.rng.exponential(mttr_h)
        } else {
            let mean = self.mean_up_h(availability);
            self.rng.exponential(mean)
        };
        let at_h = self.now_h;
        if let Some(component) = self.components.get_mut(index) {
            component.up = !up;
            component.next_h = at_h + gap;
            events.push(if up {
                Event::Failed {
                    at_h,
                    component: component.id,
                }
            } else {
                Event::Repaired {
                    at_h,
                    component: component.id,
                }
            });
        }
        self.update_system(events);
    }

    fn next_transition(&self) -> Option<(usize, f64)> {
        self.components
            .iter()
            .enumerate()
            .map(|(index, component)| (index, component.next_h))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn inject(&mut self, fault: &Fault) -> Result<Vec<Event>, ActionError> {
        Self::check_fault(fault)?;
        let (id, crash) = match *fault {
            Fault::Crash { node } => (node, true),
            Fault::Restart { node } => (node, false),
            _ => return Err(ActionError("only crash and restart apply here".to_string())),
        };

        let count = self.components.len();
        let mean_up = |availability| self.mean_up_h(availability);
        let Some(component) = self.components.get(id as usize) else {
            return Err(ActionError(format!(
                "no component {id}: use 0 to {}",
                count.saturating_sub(1)
            )));
        };
        if crash && component.crashed {
            return Err(ActionError(format!("component {id} is already crashed")));
        }
        if !crash && !component.crashed {
            return Err(ActionError(format!(
                "component {id} was not crashed by hand, so there is nothing to restart"
            )));
        }
        // A restarted component draws a fresh time to failure; a crash draws nothing.
        let gap = if crash {
            f64::INFINITY
        } else {
            let mean = mean_up(component.availability);
            self.rng.exponential(mean)
        };

        let at_h = self.now_h;
        let mut events = Vec::new();
        if let Some(component) = self.components.get_mut(id as usize) {
            if crash {
                component.up = false;
                component.crashed = true;
                component.next_h = gap;
                events.push(Event::Crashed {
                    at_h,
                    component: id,
                });
            } else {
                component.up = true;
                component.crashed = false;
                component.next_h = at_h + gap;
                events.push(Event::Restarted {
                    at_h,
                    component: id,
                });
            }
        }
        self.update_system(&mut events);
        Ok(events)
    }
}

impl Engine for Availability {
    type Config = AvailabilityConfig;
    type Action = Action;
    type Event = Event;

    fn new(config: AvailabilityConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut roles = vec![(Role::LoadBalancer, config.lb_availability)];
        roles.extend((0..config.replicas).map(|_| (Role::App, config.app_availability)));
        roles.push((Role::Database, config.db_availability));
        if config.standby {
            roles.push((Role::Standby, config.db_availability));
        }
        let mut engine = Self {
            config,
            rng: SimRng::new(seed),
            steps: 0,
            now_h: 0.0,
            components: Vec::new(),
            system_up: true,
            system_uptime_h: 0.0,
            down_since_h: 0.0,
            outages: 0,
        };
        // Every component starts up, with a fresh time to failure.
        for (id, (role, availability)) in roles.into_iter().enumerate() {
            let mean = engine.mean_up_h(availability);
            let next_h = engine.rng.exponential(mean);
            engine.components.push(Component {
                id: id as u32,
                role,
                availability,
                up: true,
                crashed: false,
                uptime_h: 0.0,
                next_h,
            });
        }
        Ok(engine)
    }

    fn step(&mut self) -> Vec<Event> {
        self.steps += 1;
        let end_h = self.steps as f64 * HOURS_PER_STEP;
        let mut events = Vec::new();
        while let Some((index, at_h)) = self.next_transition() {
            if at_h > end_h {
                break;
            }
            self.advance_to(at_h);
            self.transition(index, &mut events);
        }
        self.advance_to(end_h);
        events
    }

    fn apply(&mut self, action: &Action) -> Result<Vec<Event>, ActionError> {
        match action {
            Action::Fault(fault) => self.inject(fault),
        }
    }

    fn now_ms(&self) -> f64 {
        self.steps as f64 * STEP_MS
    }

    fn snapshot(&self) -> Snapshot {
        let formula = self.formula();
        let measured = self.measured();
        let years = self.now_h / HOURS_PER_YEAR;
        let down_min_per_year = (1.0 - formula) * HOURS_PER_YEAR * 60.0;
        let down_min_per_30_days = (1.0 - formula) * HOURS_PER_30_DAYS * 60.0;
        let measured_min_per_year = (1.0 - measured) * HOURS_PER_YEAR * 60.0;
        let up_now = self.components.iter().filter(|c| c.up).count();
        Snapshot {
            at_ms: self.now_ms(),
            metrics: vec![
                Metric::new(
                    "formula",
                    "Formula",
                    formula,
                    format!("{:.4}%", formula * 100.0),
                ),
                Metric::new(
                    "measured",
                    "Measured",
                    measured,
                    format!("{:.4}%", measured * 100.0),
                ),
                Metric::new(
                    "nines",
                    "Nines (formula)",
                    nines(formula),
                    format!("{:.2}", nines(formula)),
                ),
                Metric::new(
                    "downtime-year",
                    "Downtime/year (formula)",
                    down_min_per_year,
                    format_minutes(down_min_per_year),
                ),
                Metric::new(
                    "downtime-30d",
                    "Downtime/30 days (formula)",
                    down_min_per_30_days,
                    format_minutes(down_min_per_30_days),
                ),
                Metric::new(
                    "measured-downtime-year",
                    "Downtime/year (measured)",
                    measured_min_per_year,
                    format_minutes(measured_min_per_year),
                ),
                Metric::count("outages", "Outages", self.outages),
                Metric::new(
                    "up-now",
                    "Components up",
                    up_now as f64,
                    format!("{up_now} of {}", self.components.len()),
                ),
                Metric::new("time", "Simulated time", years, format!("{years:.1} years")),
            ],
            latency: None,
            samples: vec![Sample {
                label: "measured availability, %",
                value: measured * 100.0,
            }],
        }
    }
}

/// Formats a duration in minutes as minutes, or hours and minutes above an hour.
fn format_minutes(minutes: f64) -> String {
    if minutes < 60.0 {
        format!("{minutes:.1} min")
    } else {
        let whole = minutes.round() as u64;
        format!("{} h {} min", whole / 60, whole % 60)
    }
}

impl Faults for Availability {
    const KINDS: &'static [FaultKind] = &[FaultKind::CrashRestart];

    fn fault_action(fault: Fault) -> Action {
        Action::Fault(fault)
    }

    fn node_statuses(&self) -> Vec<NodeStatus> {
        self.components
            .iter()
            .map(|component| NodeStatus {
                id: component.id,
                label: match component.role {
                    Role::LoadBalancer => "load balancer".to_string(),
                    Role::App => format!("app {}", component.id),
                    Role::Database => "database".to_string(),
                    Role::Standby => "standby".to_string(),
                },
                // Only a component crashed by hand can be restarted, so only it counts as
                // down here. One that failed on its own can still be crashed.
                up: !component.crashed,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_of_three_nines() {
        assert!((nines(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn minutes_above_an_hour_show_hours() {
        assert_eq!(format_minutes(525.6), "8 h 46 min");
    }

    #[test]
    fn availability_of_one_is_rejected() {
        let config = AvailabilityConfig {
            app_availability: 1.0,
            ..AvailabilityConfig::default()
        };

        assert!(Availability::new(config, 1).is_err());
    }
}
