//! The province: a provincial hall, a hall in every city, county and
//! township, each placed in the administrative divisions (行政区划) from
//! the province down, and one partition per city. Names and codes are made
//! up; every code extends its parent's as real ones do (2, 4, 6 and 9
//! digits).

/// A service: code, name, ticket prefix.
pub type Service = (&'static str, &'static str, &'static str);

/// What a township's 便民服务中心 offers.
const TOWNSHIP: &[Service] = &[
    ("SB", "社会保障", "B"),
    ("YB", "医疗保障", "Y"),
    ("MZ", "民政服务", "M"),
    ("NY", "农业农村", "N"),
];

/// What a county's 政务服务中心 offers.
const COUNTY: &[Service] = &[
    ("SB", "社会保障", "B"),
    ("YB", "医疗保障", "Y"),
    ("GA", "公安户政", "G"),
    ("BDC", "不动产登记", "F"),
    ("SC", "市场主体登记", "S"),
];

/// What a city's or the province's centre offers.
const CITY: &[Service] = &[
    ("SB", "社会保障", "B"),
    ("YB", "医疗保障", "Y"),
    ("GA", "公安户政", "G"),
    ("BDC", "不动产登记", "F"),
    ("SC", "市场主体登记", "S"),
    ("SW", "税务", "T"),
    ("GJJ", "住房公积金", "J"),
];

const FIRST: [&str; 20] = [
    "东", "西", "南", "北", "青", "白", "金", "石", "清", "安", "永", "临", "宁", "平", "长", "丰",
    "云", "兴", "泰", "河",
];
const SECOND: [&str; 10] = ["阳", "川", "州", "源", "林", "溪", "山", "江", "泉", "原"];

/// One hall.
pub struct Hall {
    pub id: String,
    pub name: String,
    pub level: &'static str,
    /// (code, name) from the province down.
    pub region: Vec<(String, String)>,
    pub windows: usize,
    pub kiosks: usize,
    pub services: &'static [Service],
    /// Citizens a window sees on an ordinary day.
    pub citizens_per_window: usize,
    /// Its partition's index.
    pub partition: usize,
}

/// The halls and their partitions.
pub struct Province {
    pub halls: Vec<Hall>,
    /// Partition names, one per city.
    pub partitions: Vec<String>,
}

impl Province {
    /// `halls` halls in all: the province's, one per city, one per county,
    /// and townships for the rest; counties are spread over the cities and
    /// townships over the counties in turn.
    pub fn build(halls: usize, cities: usize, counties: usize) -> Self {
        assert!(cities >= 1 && counties >= cities && halls > 1 + cities + counties);
        let province = ("97".to_owned(), "岚山省".to_owned());
        let mut out = Vec::with_capacity(halls);
        out.push(Hall {
            id: format!("p{}", province.0),
            name: format!("{}政务服务中心", province.1),
            level: "province",
            region: vec![province.clone()],
            windows: 30,
            kiosks: 3,
            services: CITY,
            citizens_per_window: 30,
            partition: 0,
        });
        let city: Vec<(String, String)> = (0..cities)
            .map(|c| {
                (
                    format!("{}{:02}", province.0, c + 1),
                    format!("{}{}市", FIRST[c % 20], SECOND[(c * 3) % 10]),
                )
            })
            .collect();
        for (c, city_region) in city.iter().enumerate() {
            out.push(Hall {
                id: format!("c{}", city_region.0),
                name: format!("{}政务服务中心", city_region.1),
                level: "city",
                region: vec![province.clone(), city_region.clone()],
                windows: 16,
                kiosks: 2,
                services: CITY,
                citizens_per_window: 28,
                partition: c,
            });
        }
        // County k is the (k / cities + 1)-th of city k % cities.
        let county: Vec<(usize, (String, String))> = (0..counties)
            .map(|k| {
                let c = k % cities;
                let n = k / cities;
                // The first of each city is its 市辖区.
                let kind = if n == 0 { "区" } else { "县" };
                (
                    c,
                    (
                        format!("{}{:02}", city[c].0, n + 1),
                        format!(
                            "{}{}{kind}",
                            FIRST[(k * 7 + 3) % 20],
                            SECOND[(k * 3 + 1) % 10]
                        ),
                    ),
                )
            })
            .collect();
        for (c, county_region) in &county {
            out.push(Hall {
                id: format!("x{}", county_region.0),
                name: format!("{}政务服务中心", county_region.1),
                level: "county",
                region: vec![province.clone(), city[*c].clone(), county_region.clone()],
                windows: 8,
                kiosks: 2,
                services: COUNTY,
                citizens_per_window: 25,
                partition: *c,
            });
        }
        // Township t is the (t / counties + 1)-th of county t % counties.
        let townships = halls - out.len();
        for t in 0..townships {
            let k = t % counties;
            let n = t / counties;
            let (c, county_region) = &county[k];
            let kind = ["镇", "乡", "街道"][t % 3];
            let township = (
                format!("{}{:03}", county_region.0, n + 1),
                format!(
                    "{}{}{kind}",
                    FIRST[(t * 11 + k) % 20],
                    SECOND[(t / 20 + n) % 10]
                ),
            );
            out.push(Hall {
                id: format!("t{}", township.0),
                name: format!("{}便民服务中心", township.1),
                level: "township",
                region: vec![
                    province.clone(),
                    city[*c].clone(),
                    county_region.clone(),
                    township,
                ],
                windows: 2 + t % 3,
                kiosks: 1,
                services: TOWNSHIP,
                citizens_per_window: 12,
                partition: *c,
            });
        }
        Self {
            halls: out,
            partitions: city
                .iter()
                .map(|(code, _)| format!("city-{code}"))
                .collect(),
        }
    }

    /// One township hall alone, in no partition: the smallest instance,
    /// whose memory is the baseline of an instance.
    pub fn one_hall() -> Self {
        let mut p = Self::build(4, 1, 1);
        p.halls.drain(..3);
        p.halls[0].id = "baseline".into();
        p.partitions.clear();
        p
    }

    pub fn windows(&self) -> usize {
        self.halls.iter().map(|h| h.windows).sum()
    }

    /// The halls of partition `p`.
    pub fn halls_of(&self, p: usize) -> impl Iterator<Item = &Hall> {
        self.halls.iter().filter(move |h| h.partition == p)
    }

    /// The configuration every instance runs, but for its listening port.
    pub fn config(&self, http_port: u16, database_url: &str, broker_port: u16) -> String {
        use std::fmt::Write;
        let mut t = format!(
            "[server]\nlisten = \"127.0.0.1:{http_port}\"\ndatabase_url = \"{database_url}\"\n\n\
             [mqtt]\nbroker = \"mqtt://127.0.0.1:{broker_port}\"\nclient_id = \"hallwatch-province\"\n\
             prefix = \"hallwatch\"\n\n[cluster]\nlease_s = 3\nrenew_s = 1\n"
        );
        for (p, name) in self.partitions.iter().enumerate() {
            let ids: Vec<String> = self.halls_of(p).map(|h| format!("\"{}\"", h.id)).collect();
            let _ = write!(
                t,
                "\n[[cluster.partitions]]\nname = \"{name}\"\nhalls = [{}]\n",
                ids.join(", ")
            );
        }
        for h in &self.halls {
            let region: Vec<String> = h
                .region
                .iter()
                .map(|(code, name)| format!("{{ code = \"{code}\", name = \"{name}\" }}"))
                .collect();
            let kiosks: Vec<String> = (1..=h.kiosks).map(|k| format!("\"k{k}\"")).collect();
            let _ = write!(
                t,
                "\n[[halls]]\nid = \"{}\"\nname = \"{}\"\nlevel = \"{}\"\nregion = [{}]\n\
                 kiosks = [{}]\n\n[halls.hours]\nweekdays = [\"08:30-12:00\", \"13:30-17:30\"]\n",
                h.id,
                h.name,
                h.level,
                region.join(", "),
                kiosks.join(", ")
            );
            for (code, name, prefix) in h.services {
                let _ = write!(
                    t,
                    "\n[[halls.services]]\ncode = \"{code}\"\nname = \"{name}\"\nprefix = \"{prefix}\"\n"
                );
            }
            let codes: Vec<String> = h.services.iter().map(|s| format!("\"{}\"", s.0)).collect();
            for w in 0..h.windows {
                let _ = write!(
                    t,
                    "\n[[halls.windows]]\nid = \"{}\"\nname = \"{}号窗口\"\nkind = \"comprehensive\"\nservices = [{}]\n",
                    window_id(w),
                    w + 1,
                    codes.join(", ")
                );
            }
        }
        t
    }
}

/// Window `w`'s id (and its topic segment): 01, 02, …
pub fn window_id(w: usize) -> String {
    format!("{:02}", w + 1)
}
