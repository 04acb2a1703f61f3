# Throughput and p99 latency against concurrency, from bench/report.py's
# table. Usage: gnuplot -e "data='FILE'; out='PNG'" bench/plot.gp
set terminal pngcairo size 1100,500 font ",10"
set output out
set multiplot layout 1,2 title "Sigil on one 2-core machine (client and server sharing it)"
set logscale x 2
set xrange [0.8:80]
set xtics (1, 4, 16, 64)
set xlabel "requests in flight"
set key below horizontal
set grid
set title "throughput"
set ylabel "calls per second"
set format y "%.0s%c"
plot data using 1:2 with linespoints title "health Check (empty RPC)", \
     data using 1:4 with linespoints title "Sigil Verify", \
     data using 1:6 with linespoints title "oidc-provider introspection"
set title "p99 latency"
set ylabel "ms"
set logscale y 10
set format y "%g"
plot data using 1:3 with linespoints title "health Check (empty RPC)", \
     data using 1:5 with linespoints title "Sigil Verify", \
     data using 1:7 with linespoints title "oidc-provider introspection"
unset multiplot
