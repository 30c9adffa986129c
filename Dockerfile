# One image for every ml-actions action (validate-data, validate-model, canary-deploy,
# rollback): slim Python 3.11 + a Java 17 runtime for Spark + the pinned runtime packages +
# the ml_actions package (core/ml_actions). Each actions/<name>/action.yml runs it as docker://ghcr.io/<owner>/ml-actions:<version>
# and picks its subcommand with `runs.args`. Linux runners only (GitHub runs Docker actions
# on Linux only).
#
# No USER line on purpose: GitHub documents that Docker actions run as the default (root)
# user, because the workspace and $GITHUB_OUTPUT are mounted owned by the runner.

# Java 17 from the Temurin JRE image (multi-arch, same glibc family as Debian bookworm), so
# no apt packages float under us.
FROM eclipse-temurin:17.0.13_11-jre-jammy AS jre

FROM python:3.11.11-slim-bookworm

LABEL org.opencontainers.image.title="ml-actions" \
      org.opencontainers.image.description="Quality gates, canary releases and rollback for ML models" \
      org.opencontainers.image.source="https://github.com/ml-actions-org/ml-actions" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV JAVA_HOME=/opt/java/openjdk \
    PATH=/opt/java/openjdk/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPARK_LOCAL_IP=127.0.0.1 \
    MPLBACKEND=Agg

COPY --from=jre /opt/java/openjdk /opt/java/openjdk

WORKDIR /opt/ml-actions

# Dependencies first: this layer only changes when the pins change.
COPY action-requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt -r action-requirements.txt

COPY pyproject.toml README.md ./
COPY core ./core
RUN pip install --no-cache-dir --no-deps . \
    && ml-actions --version \
    && java -version

ENTRYPOINT ["ml-actions"]
