#!/usr/bin/env bash
# npm run package: builds the three installable forms of mdserver + vmctl into $PACKAGE_OUT
# (default ./out): the npm tarball, a .deb (dpkg-deb) and an .rpm (rpmbuild). All three carry
# the same tree: the compiled programs with their production dependencies only, the systemd
# units and the sample configuration (a conffile / %config(noreplace)).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${PACKAGE_OUT:-out}")
mkdir -p "$out"
name=$(node -p 'require("./package.json").name')
version=$(node -p 'require("./package.json").version')
work=$(mktemp -d "${TMPDIR:-/tmp}/mdserver-package-XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. npm pack runs the build (prepare) and takes only package.json's "files"; a clean dist/
#    so that no file of an older layout is shipped.
rm -rf dist
tgz=$(npm pack --silent --pack-destination "$out")
echo "package: $out/$tgz"

# 2. The installed tree, shared by the .deb and the .rpm: /usr/lib/mdserver-vmctl with
#    production dependencies only, installed from the lock file as tested.
root="$work/root"
lib="$root/usr/lib/$name"
mkdir -p "$lib" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/mdserver"
tar -xzf "$out/$tgz" -C "$lib" --strip-components=1
cp package-lock.json "$lib/"
(cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
rm "$lib/package-lock.json"
# npm -g makes bin targets executable itself; an unpacked tarball has them 0644.
chmod 0755 "$lib/dist/mdserver/main.js" "$lib/dist/vmctl/main.js"
ln -s "../lib/$name/dist/mdserver/main.js" "$root/usr/bin/mdserver"
ln -s "../lib/$name/dist/vmctl/main.js" "$root/usr/bin/vmctl"
# Installed units run the packaged programs by path, not whatever `mdserver` is on PATH.
for unit in systemd/*.service; do
  sed 's#/usr/bin/env mdserver#/usr/bin/mdserver#g' "$unit" > "$root/lib/systemd/system/$(basename "$unit")"
done
install -m 0640 etc/mdserver/mdserver.conf "$root/etc/mdserver/mdserver.conf"

# 3. .deb
deb="$work/deb"
cp -a "$root" "$deb"
mkdir -p "$deb/DEBIAN"
size=$(du -sk "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control > "$deb/DEBIAN/control"
printf '/etc/mdserver/mdserver.conf\n' > "$deb/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/postrm "$deb/DEBIAN/"
debfile="$out/${name}_${version}_all.deb"
dpkg-deb --root-owner-group --build "$deb" "$debfile" >/dev/null
echo "package: $debfile"

# 4. .rpm, from the same tree (no build step of its own; no automatic requires: the programs
#    are JavaScript, and nodejs is named by hand).
top="$work/rpmbuild"
mkdir -p "$top"/{BUILD,RPMS,SPECS,SRPMS,BUILDROOT}
sed -e "s/@VERSION@/$version/" -e "s/@NAME@/$name/" packaging/rpm/mdserver-vmctl.spec > "$top/SPECS/$name.spec"
rpmbuild --quiet -bb \
  --define "_topdir $top" \
  --define "_tree $root" \
  --define "_build_id_links none" \
  --define "__os_install_post %{nil}" \
  --dbpath "$work/rpmdb" \
  "$top/SPECS/$name.spec" 2>&1 | grep -v '^warning: Could not canonicalize hostname' >&2 || true
rpmfile=$(find "$top/RPMS" -name '*.rpm' | head -1)
[ -n "$rpmfile" ] || { echo "package: rpmbuild made no package" >&2; exit 1; }
cp "$rpmfile" "$out/"
echo "package: $out/$(basename "$rpmfile")"
