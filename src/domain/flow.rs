//! The staffing advice's arithmetic: how much of each service's remaining
//! demand the windows can take, as a flow from services to the windows that
//! may serve them (docs/domain.md, "Advice").
//!
//! A network of services, each with its demand, and windows, each with its
//! capacity; an edge joins a service to each window that serves it. The
//! most the windows can take is the maximum flow from the services to the
//! windows: a window shared by several services (无差别综合窗口) gives its
//! whole capacity to whichever needs it, not a fixed share to each. When
//! the demand exceeds what the windows can take, which service falls short
//! is not settled by the total alone; the shortfall is shared so that the
//! share of its demand each service gets is as even as the windows allow
//! (max-min fair: no service could get a larger share without one that
//! gets a smaller share getting less).

/// Amounts below this are nothing (cases are counted to a tenth at most).
const EPS: f64 = 1e-9;

/// Room on a path that counts as room: a millionth of a case.
const ROOM: f64 = 1e-6;

/// A bipartite network: services on one side, windows on the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// Each service's demand (≥ 0).
    pub demand: Vec<f64>,
    /// Each window's capacity (≥ 0); a closed window has none.
    pub capacity: Vec<f64>,
    /// The services each window may serve, by index into `demand`.
    pub serves: Vec<Vec<usize>>,
}

/// One edge of the residual graph.
struct Edge {
    to: usize,
    cap: f64,
}

/// A network's residual graph, built once and reset for every supply
/// asked of it: source 0, services 1..=S, windows S+1..=S+W, sink last.
/// The search buffers are kept too, so asking again allocates nothing.
struct Solver {
    edges: Vec<Edge>,
    adj: Vec<Vec<usize>>,
    /// Each edge's capacity before any flow.
    full: Vec<f64>,
    /// The edge from the source to each service.
    first: Vec<usize>,
    /// The edge from each window to the sink, if the window has capacity.
    last: Vec<Option<usize>>,
    via: Vec<Option<usize>>,
    seen: Vec<bool>,
    queue: std::collections::VecDeque<usize>,
}

impl Solver {
    /// The graph of `n`, with room on every service's edges for supplies
    /// up to its demand.
    fn new(n: &Network) -> Self {
        let (s_n, w_n) = (n.demand.len(), n.capacity.len());
        let nodes = s_n + w_n + 2;
        let mut g = Self {
            edges: Vec::new(),
            adj: vec![Vec::new(); nodes],
            full: Vec::new(),
            first: Vec::with_capacity(s_n),
            last: vec![None; w_n],
            via: vec![None; nodes],
            seen: vec![false; nodes],
            queue: std::collections::VecDeque::with_capacity(nodes),
        };
        let big: f64 = n.demand.iter().map(|x| x.max(0.0)).sum::<f64>() + 1.0;
        for i in 0..s_n {
            let e = g.add(0, 1 + i);
            g.first.push(e);
        }
        let sink = nodes - 1;
        for (w, services) in n.serves.iter().enumerate().take(w_n) {
            let cap = n.capacity[w];
            if cap <= EPS {
                continue;
            }
            for &s in services.iter().filter(|&&s| s < s_n) {
                let e = g.add(1 + s, 1 + s_n + w);
                g.full[e] = big;
            }
            let e = g.add(1 + s_n + w, sink);
            g.full[e] = cap;
            g.last[w] = Some(e);
        }
        g
    }

    fn add(&mut self, from: usize, to: usize) -> usize {
        let i = self.edges.len();
        self.edges.push(Edge { to, cap: 0.0 });
        self.edges.push(Edge { to: from, cap: 0.0 });
        self.full.extend([0.0, 0.0]);
        self.adj[from].push(i);
        self.adj[to].push(i + 1);
        i
    }

    /// The maximum flow when service `i` offers `supply[i]`, by shortest
    /// augmenting paths (Edmonds–Karp), which ends whatever the
    /// capacities. Afterwards `seen` holds the source's side of a minimum
    /// cut and `passed` what each service's supply got through.
    fn flow(&mut self, supply: &[f64]) -> f64 {
        for (e, &c) in self.edges.iter_mut().zip(&self.full) {
            e.cap = c;
        }
        for (&e, &x) in self.first.iter().zip(supply) {
            self.edges[e].cap = x.max(0.0);
        }
        let (s, t) = (0, self.adj.len() - 1);
        let mut total = 0.0;
        loop {
            self.via.fill(None);
            self.seen.fill(false);
            self.seen[s] = true;
            self.queue.clear();
            self.queue.push_back(s);
            while let Some(u) = self.queue.pop_front() {
                if u == t {
                    break;
                }
                for &e in &self.adj[u] {
                    let v = self.edges[e].to;
                    if !self.seen[v] && self.edges[e].cap > EPS {
                        self.seen[v] = true;
                        self.via[v] = Some(e);
                        self.queue.push_back(v);
                    }
                }
            }
            if !self.seen[t] {
                return total;
            }
            // The bottleneck of the path found, then push it.
            let mut push = f64::INFINITY;
            let mut v = t;
            while let Some(e) = self.via[v] {
                push = push.min(self.edges[e].cap);
                v = self.edges[e ^ 1].to;
            }
            let mut v = t;
            while let Some(e) = self.via[v] {
                self.edges[e].cap -= push;
                self.edges[e ^ 1].cap += push;
                v = self.edges[e ^ 1].to;
            }
            total += push;
        }
    }

    /// What each service's supply got through in the last flow.
    fn passed(&self, supply: &[f64]) -> Vec<f64> {
        self.first
            .iter()
            .zip(supply)
            .map(|(&e, &x)| (x.max(0.0) - self.edges[e].cap).max(0.0))
            .collect()
    }

    /// Whether the windows take `supply` whole.
    fn takes(&mut self, supply: &[f64]) -> bool {
        let want: f64 = supply.iter().map(|x| x.max(0.0)).sum();
        self.flow(supply) >= want - EPS * (1.0 + want)
    }

    /// After a flow: which nodes still have room, more than a millionth
    /// of a case, along some path to the sink, rerouting what already
    /// flows but taking nothing back from the source (every service keeps
    /// what it sends).
    fn room_to_sink(&mut self) -> Vec<bool> {
        let t = self.adj.len() - 1;
        let mut room = vec![false; self.adj.len()];
        room[t] = true;
        self.queue.clear();
        self.queue.push_back(t);
        while let Some(v) = self.queue.pop_front() {
            for &e in &self.adj[v] {
                // Edge e leaves v; its pair e ^ 1 enters v from u.
                let u = self.edges[e].to;
                if u != 0 && !room[u] && self.edges[e ^ 1].cap > ROOM {
                    room[u] = true;
                    self.queue.push_back(u);
                }
            }
        }
        room
    }

    /// After a flow that did not take its supply whole: the services on
    /// the source's side of the minimum cut, and what the windows on that
    /// side can take. Those services asked more than those windows give.
    fn cut(&self) -> (Vec<usize>, f64) {
        let s_n = self.first.len();
        let services = (0..s_n).filter(|&s| self.seen[1 + s]).collect();
        let windows = self
            .last
            .iter()
            .enumerate()
            .filter(|&(w, e)| e.is_some() && self.seen[1 + s_n + w])
            .filter_map(|(_, e)| e.map(|e| self.full[e]))
            .sum();
        (services, windows)
    }
}

impl Network {
    /// The most of the demand the windows can take.
    pub fn max_flow(&self) -> f64 {
        match self.pooled() {
            Some(capacity) => capacity.min(self.demand.iter().map(|x| x.max(0.0)).sum()),
            None => Solver::new(self).flow(&self.demand),
        }
    }

    /// When every window that has capacity serves every service that has
    /// demand (无差别综合窗口 throughout), the windows are one pool: their
    /// capacity together. No flow is needed then.
    fn pooled(&self) -> Option<f64> {
        let wanted: Vec<usize> = (0..self.demand.len())
            .filter(|&s| self.demand[s] > EPS)
            .collect();
        let mut capacity = 0.0;
        for (w, &cap) in self.capacity.iter().enumerate() {
            if cap <= EPS {
                continue;
            }
            let serves = self.serves.get(w)?;
            if !wanted.iter().all(|s| serves.contains(s)) {
                return None;
            }
            capacity += cap;
        }
        Some(capacity)
    }

    /// How much of each service's demand the windows take, shared max-min
    /// fairly by the share of its demand each service gets. The total is
    /// the maximum flow.
    pub fn fair_shares(&self) -> Vec<f64> {
        let d: Vec<f64> = self.demand.iter().map(|x| x.max(0.0)).collect();
        // One pool: every service gets the same share of its demand.
        if let Some(capacity) = self.pooled() {
            let want: f64 = d.iter().sum();
            let share = if want > capacity {
                capacity / want
            } else {
                1.0
            };
            return d.iter().map(|x| x * share).collect();
        }
        let mut g = Solver::new(self);
        let total = g.flow(&d);
        if total >= d.iter().sum::<f64>() - EPS {
            return g.passed(&d);
        }
        // Progressive filling: raise the share t of every service not yet
        // fixed together, as far as the windows take it; fix those that
        // cannot rise above it; again with the rest.
        let mut fixed: Vec<Option<f64>> = d.iter().map(|&x| (x <= EPS).then_some(0.0)).collect();
        while fixed.iter().any(Option::is_none) {
            let at = |t: f64| -> Vec<f64> {
                fixed
                    .iter()
                    .zip(&d)
                    .map(|(f, &x)| f.unwrap_or(t * x))
                    .collect()
            };
            let t = level(&mut g, &fixed, &d, &at);
            let base = at(t);
            // What actually flows at that level: the search accepts a level
            // within rounding of the windows' limit, and a service is fixed
            // at what the windows take, so the next round starts feasible.
            g.flow(&base);
            let got = g.passed(&base);
            // Can s take more while the others keep theirs? Only if the
            // flow that takes them all has room left on a path from s to
            // the windows' sink.
            let room = g.room_to_sink();
            let mut froze = false;
            for s in 0..d.len() {
                if fixed[s].is_some() {
                    continue;
                }
                if t >= 1.0 || got[s] >= d[s] - EPS || !room[1 + s] {
                    fixed[s] = Some(got[s].min(base[s]));
                    froze = true;
                }
            }
            if !froze {
                // Only rounding can get here: fix everyone where they are.
                for (f, x) in fixed.iter_mut().zip(&got) {
                    f.get_or_insert(*x);
                }
            }
        }
        fixed.into_iter().map(Option::unwrap_or_default).collect()
    }
}

/// The highest share t (at most 1) of their demand that the services not
/// yet fixed can all have together, the fixed ones keeping theirs.
///
/// Each flow that falls short names, by its minimum cut, services that ask
/// more than their windows give; the share those windows allow them is
/// the next guess (Dinkelbach's method). The guesses fall strictly and
/// reach the level after a few flows. Should rounding stall them, halving
/// the interval below the last guess finishes the search.
fn level(g: &mut Solver, fixed: &[Option<f64>], d: &[f64], at: &dyn Fn(f64) -> Vec<f64>) -> f64 {
    let mut t = 1.0;
    for _ in 0..2 * d.len() + 8 {
        if g.takes(&at(t)) {
            return t;
        }
        let (services, windows) = g.cut();
        let (mut kept, mut asked) = (0.0, 0.0);
        for &s in &services {
            match fixed[s] {
                Some(f) => kept += f,
                None => asked += d[s],
            }
        }
        if asked <= EPS {
            break;
        }
        let next = ((windows - kept) / asked).clamp(0.0, 1.0);
        if next >= t {
            break;
        }
        t = next;
    }
    halve(g, at, t)
}

/// The highest share in [0, `hi`] the windows take, to 2⁻⁴⁸ of `hi`, by
/// halving the interval.
fn halve(g: &mut Solver, at: &dyn Fn(f64) -> Vec<f64>, hi: f64) -> f64 {
    if g.takes(&at(hi)) {
        return hi;
    }
    let (mut lo, mut hi) = (0.0, hi);
    for _ in 0..48 {
        let mid = (lo + hi) / 2.0;
        if g.takes(&at(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn a_shared_window_is_pooled_not_split() {
        // Four windows serving both services, 10 each; 35 of one, 1 of
        // the other: all of it is taken.
        let n = Network {
            demand: vec![1.0, 35.0],
            capacity: vec![10.0; 4],
            serves: vec![vec![0, 1]; 4],
        };
        assert!(close(n.max_flow(), 36.0));
        let shares = n.fair_shares();
        assert!(
            close(shares[0], 1.0) && close(shares[1], 35.0),
            "{shares:?}"
        );
    }

    #[test]
    fn a_service_with_its_own_window_falls_short_alone() {
        // Window 0 serves A alone (cap 10, demand 30); window 1 serves B
        // (cap 20, demand 5).
        let n = Network {
            demand: vec![30.0, 5.0],
            capacity: vec![10.0, 20.0],
            serves: vec![vec![0], vec![1]],
        };
        assert!(close(n.max_flow(), 15.0));
        let shares = n.fair_shares();
        assert!(
            close(shares[0], 10.0) && close(shares[1], 5.0),
            "{shares:?}"
        );
    }

    #[test]
    fn a_shortfall_at_a_shared_window_is_shared_by_the_share_of_demand() {
        // One window of 12 for A (demand 10) and B (demand 20): each gets
        // 40 % of its demand.
        let n = Network {
            demand: vec![10.0, 20.0],
            capacity: vec![12.0],
            serves: vec![vec![0, 1]],
        };
        let shares = n.fair_shares();
        assert!(close(shares[0], 4.0) && close(shares[1], 8.0), "{shares:?}");
        // B also has a window of its own (6): B gets that first, and the
        // shared 12 lifts both to the same share, 18 of 30 = 60 %.
        let n = Network {
            demand: vec![10.0, 20.0],
            capacity: vec![12.0, 6.0],
            serves: vec![vec![0, 1], vec![1]],
        };
        let shares = n.fair_shares();
        assert!(
            close(shares[0], 6.0) && close(shares[1], 12.0),
            "{shares:?}"
        );
        assert!(close(shares.iter().sum(), n.max_flow()));
    }

    #[test]
    fn a_service_that_cannot_rise_leaves_the_rest_to_others() {
        // A is capped by its only window (2 of 10); B and C share 20.
        let n = Network {
            demand: vec![10.0, 15.0, 15.0],
            capacity: vec![2.0, 20.0],
            serves: vec![vec![0], vec![1, 2]],
        };
        let shares = n.fair_shares();
        assert!(close(shares[0], 2.0), "{shares:?}");
        assert!(
            close(shares[1], 10.0) && close(shares[2], 10.0),
            "{shares:?}"
        );
    }

    #[test]
    fn nothing_in_nothing_out() {
        let n = Network {
            demand: vec![0.0, 0.0],
            capacity: vec![],
            serves: vec![],
        };
        assert_eq!(n.fair_shares(), vec![0.0, 0.0]);
        let n = Network {
            demand: vec![5.0],
            capacity: vec![0.0],
            serves: vec![vec![0]],
        };
        assert!(close(n.max_flow(), 0.0));
        assert!(close(n.fair_shares()[0], 0.0));
    }
}
#[cfg(test)]
mod rounding {
    use super::*;

    /// Two services fixed at the level the search reached may together
    /// ask a hair more than the windows give; the others still get what
    /// their own windows take (seen live in a township rush).
    #[test]
    fn services_fixed_at_the_limit_leave_the_rest_their_own_windows() {
        let pooled = vec![0, 1, 2, 3];
        let n = Network {
            demand: vec![98.1, 22.2, 14.9, 28.0, 1.9],
            capacity: vec![16.3, 16.3, 16.3, 16.3, 16.3, 16.3, 16.3, 0.0, 6.5],
            serves: vec![
                vec![0],
                vec![1],
                vec![2],
                vec![3],
                pooled.clone(),
                pooled.clone(),
                pooled.clone(),
                pooled,
                vec![4],
            ],
        };
        let shares = n.fair_shares();
        let total: f64 = shares.iter().sum();
        assert!((total - n.max_flow()).abs() < 1e-6, "{shares:?}");
        assert!(
            (shares[2] - 14.9).abs() < 1e-6,
            "RS has its own window: {shares:?}"
        );
        assert!(
            (shares[4] - 1.9).abs() < 1e-6,
            "BC has its own window: {shares:?}"
        );
        assert!(
            shares[1] >= 16.3 - 1e-6,
            "SC at least its own window: {shares:?}"
        );
    }
}

#[cfg(test)]
mod search {
    use super::*;
    use proptest::prelude::*;

    /// A network of up to 6 services and 10 windows, each window serving
    /// one to three services, demands and capacities in tenths.
    fn networks() -> impl Strategy<Value = Network> {
        (1usize..=6, 1usize..=10).prop_flat_map(|(s_n, w_n)| {
            (
                prop::collection::vec((0u32..=1_500).prop_map(|x| f64::from(x) / 10.0), s_n),
                prop::collection::vec((0u32..=300).prop_map(|x| f64::from(x) / 10.0), w_n),
                prop::collection::vec(prop::collection::vec(0..s_n, 1..=3), w_n),
            )
                .prop_map(|(demand, capacity, serves)| Network {
                    demand,
                    capacity,
                    serves,
                })
        })
    }

    /// Whether the windows take `x` whole.
    fn feasible(n: &Network, x: &[f64]) -> bool {
        Solver::new(n).takes(x)
    }

    proptest! {
        /// The shares are what the windows can take whole, add up to the
        /// maximum flow, and are max-min fair: no service short of its
        /// demand could get more alone, and no service with a larger share
        /// of its demand could hand some to one with a smaller share.
        #[test]
        fn the_shares_are_max_min_fair(n in networks()) {
            let x = n.fair_shares();
            let total: f64 = x.iter().sum();
            prop_assert!((total - n.max_flow()).abs() < 1e-6, "{x:?}");
            prop_assert!(feasible(&n, &x), "{x:?}");
            let d = &n.demand;
            let share = |s: usize| if d[s] > 0.0 { x[s] / d[s] } else { 1.0 };
            let step = 1e-4;
            for s in 0..d.len() {
                prop_assert!(x[s] <= d[s] + 1e-9 && x[s] >= 0.0, "{x:?}");
                if x[s] + step > d[s] {
                    continue;
                }
                let mut more = x.clone();
                more[s] += step;
                prop_assert!(!feasible(&n, &more), "{s} could take more: {x:?}");
                for u in 0..d.len() {
                    if u == s || share(u) <= share(s) + 1e-3 || x[u] < step {
                        continue;
                    }
                    let mut moved = more.clone();
                    moved[u] -= step;
                    prop_assert!(!feasible(&n, &moved), "{u} could give {s} some: {x:?}");
                }
            }
        }
    }

    /// Windows that all serve every service asked for are one pool, and
    /// the shares are what the flows would give.
    #[test]
    fn one_pool_shares_by_the_share_of_demand() {
        let n = Network {
            demand: vec![30.0, 0.0, 10.0],
            capacity: vec![12.0, 8.0, 0.0],
            serves: vec![vec![0, 2], vec![2, 0, 1], vec![1]],
        };
        assert_eq!(n.pooled(), Some(20.0));
        let x = n.fair_shares();
        assert!(
            (x[0] - 15.0).abs() < 1e-9 && (x[2] - 5.0).abs() < 1e-9,
            "{x:?}"
        );
        let by_flows = {
            let mut g = Solver::new(&n);
            g.flow(&x)
        };
        assert!((by_flows - 20.0).abs() < 1e-9);
        assert!((n.max_flow() - 20.0).abs() < 1e-9);
        // A window serving only some of them is no pool.
        let n = Network {
            serves: vec![vec![0], vec![2, 0], vec![1]],
            ..n
        };
        assert_eq!(n.pooled(), None);
    }

    /// Found by the search above: a service fixed a hair above what its
    /// windows give, by rounding, left no room at the next level, and a
    /// service with a window of its own got nothing.
    #[test]
    fn rounding_at_one_level_does_not_starve_the_next() {
        let n = Network {
            demand: vec![25.5, 55.2, 51.3],
            capacity: vec![3.7, 7.5, 0.1],
            serves: vec![vec![0], vec![2], vec![0, 1]],
        };
        let x = n.fair_shares();
        assert!((x[2] - 7.5).abs() < 1e-6, "{x:?}");
        assert!((x.iter().sum::<f64>() - 11.3).abs() < 1e-6, "{x:?}");
    }
}
