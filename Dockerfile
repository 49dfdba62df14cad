# The alaris image: alaris-run, its bindings (lib/alaris/*.so), its Lua library, the playbooks and the vendored
# manifests of deploy/, on Debian bookworm with the runtime libraries only, run as a non-root user.
#   docker build -t alaris .
#   docker run --rm alaris playbooks/grade.lua --help
# docs/container.md says how to pass a kubeconfig and get reports out; tests/workflow_test.lua checks this file.

# Build: the compilers and the -dev packages scripts/install-deps names for building, then a CMake build installed
# under /opt/alaris: bin/alaris-run, lib/alaris/*.so, share/alaris/{lua,types,playbooks,deploy} (alaris-run finds
# its library and bindings beside itself, alaris.operators finds deploy/ beside the library).
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      liblua5.4-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libpq-dev libssl-dev libwslay-dev libexpat1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
# tests/ because CMakeLists.txt includes tests/tests.cmake, which names suites in it; only alaris-run (and the
# bindings it depends on) is built.
COPY tests/ tests/
COPY engine/ engine/
COPY bindings/ bindings/
COPY stdlib/ stdlib/
COPY docs/types/ docs/types/
COPY playbooks/ playbooks/
COPY deploy/ deploy/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target alaris-run -j "$(nproc)" \
 && cmake --install build --prefix /opt/alaris --strip \
 && /opt/alaris/bin/alaris-run --version

# Runtime: the packages of the libraries alaris-run and lib/alaris/*.so link (as ldd and dpkg -S name them; the test
# keeps this list exact), plus the CA bundle libcurl verifies HTTPS peers (DigitalOcean, Spaces) against.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libc6 libcjson1 libcurl4 libexpat1 liblua5.4-0 libpq5 libssl3 libwslay1 libyaml-0-2 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin alaris
COPY --from=build /opt/alaris/ /opt/alaris/
# Runs start in share/alaris, so `playbooks/grade.lua` names a playbook as it does in a checkout. The files stay
# root's; only .alaris/ (the journals) is writable, by any user as /tmp is, so `docker run --user "$(id -u)"` works.
WORKDIR /opt/alaris/share/alaris
RUN install -d -m 1777 .alaris
ENV PATH=/opt/alaris/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 10001:10001
ENTRYPOINT ["alaris-run"]
CMD ["--help"]
