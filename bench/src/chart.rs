//! The SVG chart: mean messages/s per system, grouped by scenario. Drawn with plotters' SVG
//! backend and its built-in text estimate, so no font files are needed.

use std::path::Path;

use plotters::prelude::*;

use crate::suite::Section;

/// Bar colours, one per system in order of first appearance.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Mean msgs/s of each labelled system in a section, in order of first appearance.
fn means(section: &Section) -> Vec<(&'static str, f64)> {
    let mut labels: Vec<&'static str> = Vec::new();
    for run in &section.runs {
        if !labels.contains(&run.label) {
            labels.push(run.label);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let rates: Vec<f64> = section
                .runs
                .iter()
                .filter(|r| r.label == label)
                .map(|r| r.throughput.msgs_per_s)
                .collect();
            (label, rates.iter().sum::<f64>() / rates.len() as f64)
        })
        .collect()
}

/// Writes the chart of `sections` (those with throughput runs) to `path`.
pub fn write(path: &Path, sections: &[Section], title: &str) -> anyhow::Result<()> {
    let groups: Vec<(&str, Vec<(&'static str, f64)>)> = sections
        .iter()
        .map(|s| (s.name.as_str(), means(s)))
        .filter(|(_, m)| !m.is_empty())
        .collect();
    let mut systems: Vec<&'static str> = Vec::new();
    for (_, means) in &groups {
        for (label, _) in means {
            if !systems.contains(label) {
                systems.push(label);
            }
        }
    }
    let top = groups
        .iter()
        .flat_map(|(_, m)| m.iter().map(|(_, v)| *v))
        .fold(1.0_f64, f64::max)
        * 1.15;
    let width = u32::try_from(groups.len().max(1) * 170 + 160)?;
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..groups.len().max(1) as f64, 0.0..top)?;
    let names: Vec<String> = groups.iter().map(|(n, _)| (*n).to_owned()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = (*x - 0.5).round();
            let centred = ((*x - 0.5) - i).abs() < 1e-6 && i >= 0.0;
            names
                .get(i as usize)
                .filter(|_| centred)
                .cloned()
                .unwrap_or_default()
        })
        .y_desc("messages/s (mean over rounds)")
        .draw()?;
    let slot = 0.8 / systems.len().max(1) as f64;
    for (k, system) in systems.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let bars = groups.iter().enumerate().filter_map(|(g, (_, means))| {
            let value = means.iter().find(|(l, _)| l == system)?.1;
            let x0 = g as f64 + 0.1 + k as f64 * slot;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + slot * 0.9, value)],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)?
            .label(*system)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}
