# The chart of tests/bench/run: requests per second of each row as a
# horizontal bar, the rows grouped by front end as in the table, gatewayd's
# rows in their own colour. The run writes the data file and passes:
#   datafile  lines Y RPS KIND "LABEL" "VALUE" (KIND 0: another server,
#             1: gatewayd, 2: a group's heading; RPS -1: no bar)
#   outfile, nlines, charttitle, subtitle
set terminal pngcairo size 1100, (130 + 24 * nlines) font "DejaVu Sans,10" enhanced
set output outfile
set title charttitle . "\n{/*0.85 " . subtitle . "}"
set style fill solid 0.9 noborder
set border 3
set xtics nomirror
set ytics nomirror scale 0
set rmargin 8
set grid xtics lc rgb "#dddddd"
set yrange [0.4 : nlines + 0.6]
set xrange [0 : *]
set format x "%.0s%c"
set key below horizontal center samplen 1.5
set offsets 0, graph 0.12, 0, 0
gw_colour = 0xd9541e
other_colour = 0x7f8c9a
colour(kind) = kind == 1 ? gw_colour : other_colour
plot datafile using (0):1:ytic(4) with dots lc rgb "#ffffff" notitle, \
     "" using (($3 < 2 && $2 >= 0) ? 0 : NaN):1:(0):2:($1 - 0.36):($1 + 0.36):(colour($3)) \
        with boxxyerror lc rgb variable notitle, \
     "" using (($3 < 2) ? (($2 > 0) ? $2 : 0) : NaN):1:5 with labels left offset char 0.6, 0 \
        font ",9" notitle, \
     NaN with boxes lc rgb gw_colour title "gatewayd", \
     NaN with boxes lc rgb other_colour title "others"
