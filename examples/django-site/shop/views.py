from django.views.generic import TemplateView

index = TemplateView.as_view(template_name="shop/index.html")
products = TemplateView.as_view(template_name="shop/products.html")
about = TemplateView.as_view(template_name="shop/about.html")
