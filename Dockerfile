# hopflow worker image; built by docker-compose.yml (context = repo root).

# Build stage: `pip install .` into a prefix, so sources, .git and caches never reach the image.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip install --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
# Unprivileged user; the worker keeps local table state under its working directory.
RUN useradd --create-home --uid 10001 hopflow
USER hopflow
WORKDIR /home/hopflow
ENV HOPFLOW_BOOTSTRAP=kafka:9092
EXPOSE 6066
CMD ["hopflow", "worker", "--bootstrap", "kafka:9092", "--web-port", "6066"]
