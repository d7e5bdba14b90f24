"""``flowcep report``: one self-contained HTML file from an alerts file (and a run's stats).

The page must open offline, from a mail attachment or a USB stick: plotly.js is inlined from
the ``plotly`` package (a well-kept charting library; drawing charts by hand in SVG would be
more code and fewer features), styles and the table's search/sort script are inline, and no
URL is ever loaded. Alert fields come from the network (HTTP URLs, hostnames): every string is
HTML-escaped in the table and the embedded JSON cannot close its ``<script>`` element.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .alertfile import AlertFile

__all__ = ["ReportData", "summarise", "render_html"]

#: Bucket widths for "alerts over time", in seconds; the smallest giving <= 60 buckets wins.
BUCKETS_S = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 6 * 3600, 86400, 7 * 86400)
TOP_N = 15
SEVERITY_ORDER = ("critical", "high", "medium", "low", "?")
SEVERITY_BY_SCORE = {99: "critical", 73: "high", 47: "medium", 21: "low"}


def _obj(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``doc[key]`` when it is an object, else ``{}``: fields of a foreign file may be anything."""
    v = doc.get(key)
    return v if isinstance(v, dict) else {}


def _as_list(v: Any) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [str(x) for x in v if x is not None and x != ""]
    return [str(v)]


def _parse_ts(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _severity(doc: Mapping[str, Any]) -> str:
    label = _obj(doc, "flowcep").get("severity")
    if isinstance(label, str) and label in SEVERITY_ORDER:
        return label
    score = _obj(doc, "event").get("severity")
    return SEVERITY_BY_SCORE.get(score, "?") if isinstance(score, int) else "?"


def latest_revisions(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per alert: suppression writes revisions of the same ``flowcep.alert_id``,
    and counting each revision would inflate every total."""
    best: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for i, doc in enumerate(alerts):
        fc = _obj(doc, "flowcep")
        key = str(fc.get("alert_id") or f"#{i}")
        rev = fc.get("revision", 1)
        rev = rev if isinstance(rev, int) else 1
        prev = best.get(key)
        if prev is None:
            order.append(key)
            best[key] = doc
        else:
            prev_rev = _obj(prev, "flowcep").get("revision", 1)
            if rev >= (prev_rev if isinstance(prev_rev, int) else 1):
                best[key] = doc
    return [best[k] for k in order]


class ReportData:
    """Everything the page shows, computed once in Python (the page only draws)."""

    def __init__(self) -> None:
        self.source_file = ""
        self.generated = ""
        self.rows: list[dict[str, Any]] = []
        self.rules: dict[str, str] = {}
        self.by_rule: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.targets: Counter[str] = Counter()
        self.timeline: dict[str, Any] = {}
        self.categories: dict[str, dict[str, int]] = {}
        self.talkers: list[dict[str, Any]] = []
        self.stats: dict[str, Any] | None = None
        self.first: float | None = None
        self.last: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.source_file, "generated": self.generated, "total": len(self.rows),
            "rules": self.rules, "by_rule": dict(self.by_rule), "by_severity": dict(self.by_severity),
            "sources": self.sources.most_common(TOP_N), "targets": self.targets.most_common(TOP_N),
            "timeline": self.timeline, "categories": self.categories, "talkers": self.talkers,
            "first": _iso(self.first) if self.first is not None else None,
            "last": _iso(self.last) if self.last is not None else None,
        }


def _timeline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["ts"] for r in rows if r["ts"] is not None]
    if not times:
        return {"bucket_s": 0, "x": [], "series": {}}
    lo, hi = min(times), max(times)
    width = next((b for b in BUCKETS_S if (hi - lo) / b <= 60), BUCKETS_S[-1])
    start = lo - lo % width
    n = int((hi - start) // width) + 1
    series: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for r in rows:
        if r["ts"] is not None:
            series[r["rule"]][int((r["ts"] - start) // width)] += 1
    x = [_iso(start + i * width) for i in range(n)]
    return {"bucket_s": width, "x": x, "series": dict(sorted(series.items()))}


def summarise(af: AlertFile, stats: Mapping[str, Any] | None = None) -> ReportData:
    """Aggregate an alerts file (and optionally the run's ``--stats-json``) for the page."""
    d = ReportData()
    d.source_file = str(af.path)
    d.generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    for doc in latest_revisions(af.alerts):
        rule = _obj(doc, "rule")
        rid = str(rule.get("id") or "?")
        d.rules.setdefault(rid, str(rule.get("name") or rid))
        src = _as_list(_obj(doc, "source").get("ip"))
        dst_doc = _obj(doc, "destination")
        dst = _as_list(dst_doc.get("ip"))
        ts = _parse_ts(doc.get("@timestamp"))
        sev = _severity(doc)
        fc = _obj(doc, "flowcep")
        d.rows.append({
            "ts": ts, "time": _iso(ts) if ts is not None else str(doc.get("@timestamp", "")),
            "rule": rid, "severity": sev, "score": _obj(doc, "event").get("severity"),
            "source": ", ".join(src), "targets": dst, "port": dst_doc.get("port"),
            "message": str(doc.get("message", "")), "occurrences": fc.get("occurrences", 1),
        })
        d.by_rule[rid] += 1
        d.by_severity[sev] += 1
        for s in src:
            d.sources[s] += 1
        for t in dst:
            d.targets[t] += 1
        if ts is not None:
            d.first = ts if d.first is None else min(d.first, ts)
            d.last = ts if d.last is None else max(d.last, ts)
    d.rows.sort(key=lambda r: (r["ts"] is None, r["ts"] or 0.0, r["rule"]))
    d.timeline = _timeline(d.rows)
    talk: Counter[str] = Counter()
    for m in af.metrics:
        metrics = _obj(m, "flowcep").get("metrics")
        if not isinstance(metrics, dict):
            continue
        for cat, v in (metrics.get("categories") or {}).items():
            if isinstance(v, dict):
                acc = d.categories.setdefault(str(cat), {"flows": 0, "packets": 0, "bytes": 0})
                for k in acc:
                    acc[k] += int(v.get(k, 0) or 0)
        for t in metrics.get("by_bytes") or []:
            if isinstance(t, dict) and t.get("ip"):
                talk[str(t["ip"])] += int(t.get("bytes", 0) or 0)
    d.talkers = [{"ip": ip, "bytes": b} for ip, b in talk.most_common(TOP_N)]
    if stats is not None:
        d.stats = dict(stats)
    return d


# --------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f6f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
main{padding:16px 24px}.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
.card{background:#fff;border-radius:6px;padding:12px 16px;min-width:140px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:24px}.card span{color:#5a6473;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}
.panel{background:#fff;border-radius:6px;padding:8px 12px;box-shadow:0 1px 2px #0002}
.panel h2{font-size:15px;margin:6px 0}.chart{height:340px}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:5px 8px;border-bottom:1px solid #e3e7ee;text-align:left;vertical-align:top}
th{cursor:pointer;background:#e9edf3;position:sticky;top:0;user-select:none}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.msg{max-width:560px;word-break:break-word}#q{padding:6px 8px;width:320px;margin:8px 0}
.sev-critical{color:#a1001a;font-weight:600}.sev-high{color:#c4410c;font-weight:600}
.sev-medium{color:#8a6d00}.sev-low{color:#2d6a4f}.muted{color:#5a6473;font-size:12px}
"""

TABLE_JS = """
(function(){
  var q=document.getElementById('q'),tb=document.querySelector('#alerts tbody'),
      rows=Array.prototype.slice.call(tb.rows),shown=document.getElementById('shown');
  function filter(){var t=q.value.toLowerCase(),n=0;rows.forEach(function(r){
    var ok=!t||r.textContent.toLowerCase().indexOf(t)>=0;r.style.display=ok?'':'none';if(ok)n++;});
    shown.textContent=n;}
  q.addEventListener('input',filter);
  document.querySelectorAll('#alerts th').forEach(function(th,i){th.addEventListener('click',function(){
    var asc=!th.classList.contains('asc');document.querySelectorAll('#alerts th').forEach(function(h){
      h.classList.remove('asc','desc');});th.classList.add(asc?'asc':'desc');
    var num=th.dataset.type==='num';rows.sort(function(a,b){
      var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;
      if(num){x=parseFloat(x)||0;y=parseFloat(y)||0;return asc?x-y:y-x;}
      return asc?x.localeCompare(y):y.localeCompare(x);});
    rows.forEach(function(r){tb.appendChild(r);});});});
})();
"""

CHARTS_JS = """
(function(){
  var D=JSON.parse(document.getElementById('report-data').textContent),
      cfg={displaylogo:false,responsive:true,staticPlot:false,modeBarButtonsToRemove:['toImage']},
      base={margin:{l:60,r:20,t:10,b:60},font:{size:12}};
  function lay(extra){var o={};for(var k in base)o[k]=base[k];for(k in extra)o[k]=extra[k];return o;}
  function draw(id,data,layout){var el=document.getElementById(id);if(!el)return;
    Plotly.newPlot(el,data,lay(layout),cfg).then(function(){el.setAttribute('data-drawn','1');});}
  var tl=D.timeline,series=Object.keys(tl.series||{});
  draw('chart-time',series.map(function(r){return {type:'bar',name:r,x:tl.x,y:tl.series[r]};}),
       {barmode:'stack',legend:{orientation:'h',y:-0.25},yaxis:{title:'alerts per '+tl.bucket_s+' s'}});
  function hbar(id,pairs,title){draw(id,[{type:'bar',orientation:'h',
    y:pairs.map(function(p){return p[0];}).reverse(),x:pairs.map(function(p){return p[1];}).reverse()}],
    {margin:{l:150,r:20,t:10,b:40},xaxis:{title:title}});}
  hbar('chart-sources',D.sources,'alerts');hbar('chart-targets',D.targets,'alerts');
  var sev=['critical','high','medium','low','?'].filter(function(s){return D.by_severity[s];});
  draw('chart-severity',[{type:'pie',hole:0.45,labels:sev,values:sev.map(function(s){return D.by_severity[s];}),
    marker:{colors:sev.map(function(s){return {critical:'#a1001a',high:'#e0601f',medium:'#e0b000',low:'#52a873','?':'#999'}[s];})},
    sort:false}],{showlegend:true});
  var cats=Object.keys(D.categories||{});
  if(cats.length){cats.sort(function(a,b){return D.categories[b].bytes-D.categories[a].bytes;});
    draw('chart-categories',[{type:'bar',x:cats,y:cats.map(function(c){return D.categories[c].bytes;}),name:'bytes'},
      {type:'bar',x:cats,y:cats.map(function(c){return D.categories[c].flows;}),name:'flows',yaxis:'y2'}],
      {barmode:'group',yaxis:{title:'bytes',type:'log'},yaxis2:{title:'flows',overlaying:'y',side:'right'},
       legend:{orientation:'h',y:-0.25}});}
  if((D.talkers||[]).length){hbar('chart-talkers',D.talkers.map(function(t){return [t.ip,t.bytes];}),'bytes');}
})();
"""


def _script_json(obj: Any) -> str:
    """JSON that cannot end its <script> element or open a comment, whatever the strings hold."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _table(d: ReportData) -> str:
    out = []
    for r in d.rows:
        targets = r["targets"]
        tshow = ", ".join(targets[:5]) + (f" +{len(targets) - 5} more" if len(targets) > 5 else "")
        if r["port"] is not None:
            tshow = f"{tshow} port {r['port']}" if tshow else f"port {r['port']}"
        rank = {s: i for i, s in enumerate(reversed(SEVERITY_ORDER))}[r["severity"]]
        out.append(
            f'<tr><td data-v="{_e(r["ts"] or 0)}">{_e(r["time"])}</td>'
            f'<td>{_e(r["rule"])}</td>'
            f'<td data-v="{rank}" class="sev-{_e(r["severity"]).replace("?", "unknown")}">{_e(r["severity"])}</td>'
            f'<td>{_e(r["source"])}</td><td title="{_e(", ".join(targets))}">{_e(tshow)}</td>'
            f'<td data-v="{_e(r["occurrences"])}">{_e(r["occurrences"])}</td>'
            f'<td class="msg">{_e(r["message"])}</td></tr>')
    return "\n".join(out)


def _stats_panel(stats: Mapping[str, Any] | None) -> str:
    if not stats:
        return ""
    stages = stats.get("stages") or {}
    records = (stages.get("input") or {}).get("in", 0) if isinstance(stages, dict) else 0
    drops = stats.get("drops") or {}
    drop_rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(f'{v:,}' if isinstance(v, int) else v)}</td></tr>"
                        for k, v in sorted(drops.items())) or "<tr><td colspan=2>none</td></tr>"
    return (f'<section class="panel" id="run-stats"><h2>Run</h2><p class="muted">'
            f'{_e(f"{records:,}" if isinstance(records, int) else records)} records in '
            f'{_e(stats.get("elapsed_s", "?"))} s</p><table><thead><tr><th>dropped (reason)</th>'
            f'<th>records</th></tr></thead><tbody>{drop_rows}</tbody></table></section>')


def render_html(d: ReportData, plotly_js: str | None = None) -> str:
    """The whole page as one string; ``plotly_js`` defaults to the installed plotly bundle."""
    if plotly_js is None:
        from plotly.offline import get_plotlyjs
        plotly_js = get_plotlyjs()
    # A "</script" inside the library text would end the element early; it has none today,
    # but the guard keeps a future bundle from breaking the page silently.
    plotly_js = plotly_js.replace("</script", "<\\/script")
    summary = d.to_json()
    rules_list = "".join(f"<li><b>{_e(r)}</b> {_e(d.rules[r])}: <span data-rule=\"{_e(r)}\">"
                         f"{n}</span></li>" for r, n in sorted(d.by_rule.items()))
    span = f"{summary['first']} to {summary['last']} UTC" if summary["first"] else "no timestamps"
    cats = ('<section class="panel"><h2>Traffic categories</h2><div id="chart-categories" class="chart">'
            '</div></section>') if d.categories else ""
    talkers = ('<section class="panel"><h2>Top talkers (bytes)</h2><div id="chart-talkers" class="chart">'
               '</div></section>') if d.talkers else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>FlowCEP report: {_e(d.source_file)}</title><style>{CSS}</style></head>
<body><header><h1>FlowCEP alerts report</h1>
<p>{_e(d.source_file)} &middot; {_e(span)} &middot; generated {_e(d.generated)}</p></header>
<main>
<div class="cards">
<div class="card"><b id="total-alerts">{len(d.rows)}</b><span>alerts</span></div>
<div class="card"><b id="total-rules">{len(d.by_rule)}</b><span>rules fired</span></div>
<div class="card"><b id="total-sources">{len(d.sources)}</b><span>sources</span></div>
<div class="card"><b id="total-targets">{len(d.targets)}</b><span>targets</span></div>
</div>
<div class="grid">
<section class="panel"><h2>Alerts over time by rule</h2><div id="chart-time" class="chart"></div></section>
<section class="panel"><h2>Severity</h2><div id="chart-severity" class="chart"></div></section>
<section class="panel"><h2>Top sources</h2><div id="chart-sources" class="chart"></div></section>
<section class="panel"><h2>Top targets</h2><div id="chart-targets" class="chart"></div></section>
{cats}{talkers}
<section class="panel" id="rules"><h2>Rules</h2><ul>{rules_list}</ul></section>
{_stats_panel(d.stats)}
</div>
<section class="panel" style="margin-top:16px"><h2>Alerts</h2>
<input id="q" type="search" placeholder="search alerts (rule, address, message)" aria-label="search alerts">
<span class="muted"><span id="shown">{len(d.rows)}</span> shown; click a column to sort</span>
<table id="alerts"><thead><tr><th data-type="num">time (UTC)</th><th>rule</th><th data-type="num">severity</th>
<th>source</th><th>targets</th><th data-type="num">occurrences</th><th>message</th></tr></thead>
<tbody>
{_table(d)}
</tbody></table></section>
</main>
<script type="application/json" id="report-data">{_script_json(summary)}</script>
<script>{TABLE_JS}</script>
<script>{plotly_js}</script>
<script>{CHARTS_JS}</script>
</body></html>
"""
