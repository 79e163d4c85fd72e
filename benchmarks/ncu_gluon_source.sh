source benchmarks/device_env.sh
for shape in 1x2048; do
timeout 200 ncu --clock-control none -k regex:_chunk_scan_sm90 --section WarpStateStats --section SourceCounters \
  --section SpeedOfLight -o $OUT/gl-$shape python3 benchmarks/ncu_chunk_scan.py --scan-kernel gluon_async $shape > $OUT/ncu-run-$shape.txt 2>&1
echo "ncu rc=$? at ${SECONDS}s"
ncu -i $OUT/gl-$shape.ncu-rep --page source --csv --print-source sass > $OUT/sass-$shape.csv 2>&1
ncu -i $OUT/gl-$shape.ncu-rep --page raw --csv > $OUT/raw-$shape.csv 2>&1
ncu -i $OUT/gl-$shape.ncu-rep --page details --print-details all > $OUT/details-$shape.txt 2>&1
done
ls -la $OUT
