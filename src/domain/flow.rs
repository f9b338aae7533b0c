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

/// A residual graph: source 0, services 1..=S, windows S+1..=S+W, sink last.
struct Graph {
    edges: Vec<Edge>,
    adj: Vec<Vec<usize>>,
}

impl Graph {
    fn new(nodes: usize) -> Self {
        Self {
            edges: Vec::new(),
            adj: vec![Vec::new(); nodes],
        }
    }

    fn add(&mut self, from: usize, to: usize, cap: f64) -> usize {
        let i = self.edges.len();
        self.edges.push(Edge { to, cap });
        self.edges.push(Edge { to: from, cap: 0.0 });
        self.adj[from].push(i);
        self.adj[to].push(i + 1);
        i
    }

    /// The maximum flow from `s` to `t` by shortest augmenting paths
    /// (Edmonds–Karp), which ends whatever the capacities.
    fn max_flow(&mut self, s: usize, t: usize) -> f64 {
        let n = self.adj.len();
        let mut total = 0.0;
        loop {
            let mut via: Vec<Option<usize>> = vec![None; n];
            let mut seen = vec![false; n];
            seen[s] = true;
            let mut queue = std::collections::VecDeque::from([s]);
            while let Some(u) = queue.pop_front() {
                if u == t {
                    break;
                }
                for &e in &self.adj[u] {
                    let v = self.edges[e].to;
                    if !seen[v] && self.edges[e].cap > EPS {
                        seen[v] = true;
                        via[v] = Some(e);
                        queue.push_back(v);
                    }
                }
            }
            if !seen[t] {
                return total;
            }
            // The bottleneck of the path found, then push it.
            let mut push = f64::INFINITY;
            let mut v = t;
            while let Some(e) = via[v] {
                push = push.min(self.edges[e].cap);
                v = self.edges[e ^ 1].to;
            }
            let mut v = t;
            while let Some(e) = via[v] {
                self.edges[e].cap -= push;
                self.edges[e ^ 1].cap += push;
                v = self.edges[e ^ 1].to;
            }
            total += push;
        }
    }
}

impl Network {
    /// The flow each service gets when service `i` offers `supply[i]`:
    /// the maximum flow, and per service how much of its supply passed.
    fn flow(&self, supply: &[f64]) -> (f64, Vec<f64>) {
        let (s_n, w_n) = (self.demand.len(), self.capacity.len());
        let source = 0;
        let sink = s_n + w_n + 1;
        let mut g = Graph::new(s_n + w_n + 2);
        let big: f64 = supply.iter().sum::<f64>() + 1.0;
        let first: Vec<usize> = supply
            .iter()
            .enumerate()
            .map(|(i, &x)| g.add(source, 1 + i, x.max(0.0)))
            .collect();
        for (w, services) in self.serves.iter().enumerate() {
            let cap = self.capacity.get(w).copied().unwrap_or(0.0);
            if cap <= EPS {
                continue;
            }
            for &s in services.iter().filter(|&&s| s < s_n) {
                g.add(1 + s, 1 + s_n + w, big);
            }
            g.add(1 + s_n + w, sink, cap);
        }
        let total = g.max_flow(source, sink);
        let per = first
            .iter()
            .zip(supply)
            .map(|(&e, &x)| (x.max(0.0) - g.edges[e].cap).max(0.0))
            .collect();
        (total, per)
    }

    /// The most of the demand the windows can take.
    pub fn max_flow(&self) -> f64 {
        self.flow(&self.demand).0
    }

    /// Whether the windows can take `supply` whole.
    fn takes(&self, supply: &[f64]) -> bool {
        let want: f64 = supply.iter().sum();
        self.flow(supply).0 >= want - EPS * (1.0 + want)
    }

    /// How much of each service's demand the windows take, shared max-min
    /// fairly by the share of its demand each service gets. The total is
    /// the maximum flow.
    pub fn fair_shares(&self) -> Vec<f64> {
        let d: Vec<f64> = self.demand.iter().map(|x| x.max(0.0)).collect();
        let (total, per) = self.flow(&d);
        if total >= d.iter().sum::<f64>() - EPS {
            return per;
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
            let t = if self.takes(&at(1.0)) {
                1.0
            } else {
                let (mut lo, mut hi) = (0.0, 1.0);
                for _ in 0..48 {
                    let mid = (lo + hi) / 2.0;
                    if self.takes(&at(mid)) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                lo
            };
            let base = at(t);
            // What actually flows at that level: the search accepts a level
            // within rounding of the windows' limit, and a service is fixed
            // at what the windows take, so the next round starts feasible.
            let got = self.flow(&base).1;
            let mut froze = false;
            for s in 0..d.len() {
                if fixed[s].is_some() {
                    continue;
                }
                // Can s take more while the others keep theirs?
                let mut more = base.clone();
                more[s] = (t * d[s] + 1e-6 * d[s].max(1.0)).min(d[s]);
                if t >= 1.0 || more[s] <= base[s] + EPS || !self.takes(&more) {
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
